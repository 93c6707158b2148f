#!/usr/bin/env bash
# Installs what djship needs on a fresh Debian/Ubuntu machine (as root), for one purpose:
#   scripts/setup.sh demo    what the demo uses: the sandbox tools (debootstrap,
#                            systemd-nspawn, nftables, iproute2), rsync, OpenSSH and git,
#                            and a virtualenv in .venv with djship itself
#   scripts/setup.sh tests   the above, plus what only the tests use (PostgreSQL for the
#                            Heroku export, Docker for the Docker export, pebble and testssl
#                            for TLS) and djship's dev tools in the virtualenv (the default)
#   scripts/setup.sh --list demo|tests   print the apt packages a purpose installs, and exit
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_PACKAGES=(debootstrap systemd-container rsync openssh-client iproute2 nftables git)
TEST_PACKAGES=(curl postgresql docker.io docker-compose pebble testssl.sh openssl)

if [ "${1:-}" = "--list" ]; then
  case "${2:-tests}" in
    demo) printf '%s\n' "${DEMO_PACKAGES[@]}" ;;
    tests) printf '%s\n' "${DEMO_PACKAGES[@]}" "${TEST_PACKAGES[@]}" ;;
    *) echo "setup: unknown purpose ${2}" >&2; exit 2 ;;
  esac
  exit 0
fi

PURPOSE=${1:-tests}
case "$PURPOSE" in
  demo) APT_PACKAGES=("${DEMO_PACKAGES[@]}"); EXTRAS="" ;;
  tests) APT_PACKAGES=("${DEMO_PACKAGES[@]}" "${TEST_PACKAGES[@]}"); EXTRAS="[dev]" ;;
  *) echo "setup: unknown purpose $PURPOSE (demo or tests)" >&2; exit 2 ;;
esac

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".$EXTRAS"
