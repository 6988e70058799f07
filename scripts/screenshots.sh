#!/usr/bin/env bash
# `make screenshots`: the workspace's pages at 1280×800, as committed in docs/screenshots/ and
# shown in the README. A fresh local D1 (its own state directory, so `make dev`'s data is left
# alone) gets the schema and migrations, the Worker runs on it under `wrangler dev`, and
# tests/browser/screenshots.mjs fills it with a small shop's data through the API and photographs
# each view in English (and the overview in Portuguese). Knob: SCREENSHOTS_DIR.

set -euo pipefail
# shellcheck source=scripts/bench-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-env.sh"

DIR=${SCREENSHOTS_DIR:-"$ROOT/docs/screenshots"}
STATE="$ROOT/target/screenshot-state/$$"
mkdir -p "$STATE" "$DIR"

PGID=""
cleanup() {
  local status=$?
  set +e
  if [[ -n $PGID ]]; then kill -TERM -- "-$PGID" 2>/dev/null; sleep 1; kill -KILL -- "-$PGID" 2>/dev/null; fi
  rm -rf "$STATE"
  exit "$status"
}
trap cleanup EXIT

wrangler d1 execute DB --local --file schema.sql --persist-to "$STATE" >"$OUT/screenshots-schema.log" 2>&1
CI=true wrangler d1 migrations apply DB --local --persist-to "$STATE" </dev/null >>"$OUT/screenshots-schema.log" 2>&1
port=$(free_port)
inspect=$(free_port)
app="http://127.0.0.1:$port"
setsid wrangler dev --ip 127.0.0.1 --port "$port" --inspector-port "$inspect" --show-interactive-dev-session=false \
  --persist-to "$STATE" --var "PUBLIC_BASE_URL:$app" </dev/null >"$OUT/screenshots-wrangler.log" 2>&1 &
PGID=$!
for _ in $(seq 360); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$app/healthz") == 200 ]] && break
  sleep 0.25
done
BASE_URL="$app" ADMIN_KEY="$ADMIN_KEY" SCREENSHOTS_DIR="$DIR" node tests/browser/screenshots.mjs
echo "screenshots in ${DIR#"$ROOT"/}:"
ls "$DIR"
