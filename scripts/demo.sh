#!/usr/bin/env bash
# The main job, from a fresh machine: boot a local sandbox server, provision it, deploy the
# example project to it, and print the URL that serves it. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh demo
DJSHIP=$PWD/.venv/bin/djship
NAME=${DJSHIP_DEMO_NAME:-demo}
WORK=$(mktemp -d /tmp/djship-demo.XXXXXX)
cp -r examples/guestbook/. "$WORK/"

if ! "$DJSHIP" sandbox ls | grep -q "^$NAME "; then
  "$DJSHIP" sandbox up "$NAME"
fi
ADDRESS=$("$DJSHIP" sandbox ls | awk -v n="$NAME" '$1 == n {print $2}')
"$DJSHIP" sandbox host-entry "$NAME" --roles web,worker,db > "$WORK/djship.demo.toml"
# The sandbox has no DNS name: let the site answer on its address too.
cat >> "$WORK/djship.demo.toml" <<TOML

[sites.guestbook]
domains = ["$ADDRESS", "guestbook.test"]
TOML

cd "$WORK"
"$DJSHIP" -e demo provision
"$DJSHIP" -e demo deploy
echo
echo "The example site is live at: http://$ADDRESS/"
echo "(project copy in $WORK; tear down with: $DJSHIP sandbox down $NAME)"
