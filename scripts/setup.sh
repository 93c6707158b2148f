#!/usr/bin/env bash
# Installs what djship's demo and tests need on a fresh Debian/Ubuntu machine (as root):
# the sandbox tools (debootstrap, systemd-nspawn), rsync and OpenSSH, and a virtualenv
# with djship and its dev tools in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(debootstrap systemd-container rsync openssh-client iproute2 nftables curl git
              postgresql docker.io docker-compose pebble testssl.sh openssl)
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
.venv/bin/python -m pip install --quiet -e '.[dev]'
