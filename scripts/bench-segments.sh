#!/usr/bin/env bash
# `make bench` (second part): segments at scale. For each base size (BENCH_SEGMENT_SIZES, default
# "10000 100000 1000000") a fresh local D1 is filled with generated contacts (SQL, in D1 itself),
# then Clientela runs under `wrangler dev` and we measure, in one run on this machine:
#   - full rebuild: POST /admin/v1/segments until the segment is `ready` (queue-driven chunks),
#   - incremental update: an order that moves one contact in, until the segment's size shows it,
#     and the D1 rows the queue consumer read and wrote for that update (its d1-rows log line),
#   - export: GET /admin/v1/segments/{id}/export.csv, rows per second and workerd's memory
#     (VmRSS before, VmHWM peak after; the runtime's whole process, not just the export).
# The figures go into BENCHMARKS.md between the "segments-at-scale" markers. A measurement, not a
# test. Knob: BENCH_SEGMENT_SIZES.

set -euo pipefail
# shellcheck source=scripts/bench-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-env.sh"

SIZES=${BENCH_SEGMENT_SIZES:-"10000 100000 1000000"}
STATE="$ROOT/target/bench-state/segments-$$"
mkdir -p "$STATE"

log() { echo "bench-segments: $*" >&2; }
die() {
  echo "bench-segments: error: $*" >&2
  exit 1
}

PGID=""
stop_worker() {
  if [[ -n $PGID ]] && kill -0 -- "-$PGID" 2>/dev/null; then
    kill -TERM -- "-$PGID" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 -- "-$PGID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$PGID" 2>/dev/null || true
  fi
  PGID=""
}
cleanup() {
  local status=$?
  set +e
  stop_worker
  rm -rf "$STATE"
  exit "$status"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

# The generated base: every contact active with marketing consent; a third in PT, the rest BR;
# spending spread over 0–999.00, so the rule below matches about a third of the base.
generate_sql() {
  local n=$1
  cat <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n)
INSERT INTO contacts (id, email, email_hash, name, country, city, status, source, created_at, updated_at, confirmed_at, last_activity_at)
SELECT printf('00000000-0000-7000-8000-%012x', i), 'bench' || i || '@example.com', printf('%064x', i), 'Buyer ' || i,
  CASE i % 3 WHEN 0 THEN 'PT' ELSE 'BR' END, 'Recife', 'active', 'bench',
  '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-06-01T00:00:00.000Z' FROM n;
INSERT INTO consents (contact_id, purpose, granted, policy_version, updated_at)
SELECT id, 'marketing_email', 1, '2026-01', created_at FROM contacts WHERE source = 'bench';
INSERT INTO contact_stats (contact_id, order_count, total_spent_cents, first_order_at, last_order_at, temperature, updated_at)
SELECT id, 1 + rowid % 5, (rowid % 1000) * 100, '2026-02-01T00:00:00.000Z', '2026-06-01T00:00:00.000Z', 'warm', created_at
FROM contacts WHERE source = 'bench';
SQL
}

ROWS=""
for n in $SIZES; do
  [[ $n =~ ^[0-9]+$ ]] || die "BENCH_SEGMENT_SIZES must be numbers, got '$n'"
  dir="$STATE/n$n"
  log "$n contacts: generating the base"
  timeout 900 wrangler d1 execute DB --local --file schema.sql --persist-to "$dir" >"$OUT/seg-$n-schema.log" 2>&1 ||
    die "schema failed: $OUT/seg-$n-schema.log"
  CI=true timeout 300 wrangler d1 migrations apply DB --local --persist-to "$dir" </dev/null >>"$OUT/seg-$n-schema.log" 2>&1 ||
    die "migrations failed: $OUT/seg-$n-schema.log"
  generate_sql "$n" >"$OUT/seg-$n-data.sql"
  t0=$(now_ms)
  timeout 1800 wrangler d1 execute DB --local --file "$OUT/seg-$n-data.sql" --persist-to "$dir" >"$OUT/seg-$n-data.log" 2>&1 ||
    die "generating data failed: $OUT/seg-$n-data.log"
  gen_ms=$(($(now_ms) - t0))
  rm -f "$OUT/seg-$n-data.sql"

  port=$(free_port)
  inspect=$(free_port)
  app="http://127.0.0.1:$port"
  setsid wrangler dev --ip 127.0.0.1 --port "$port" --inspector-port "$inspect" --show-interactive-dev-session=false \
    --persist-to "$dir" --var "PUBLIC_BASE_URL:$app" --var D1_ROW_METER:on </dev/null >"$OUT/seg-$n-wrangler.log" 2>&1 &
  PGID=$!
  for _ in $(seq 360); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$app/healthz") == 200 ]] && break
    sleep 0.25
  done
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$app/healthz") == 200 ]] || die "wrangler dev did not start: $OUT/seg-$n-wrangler.log"
  workerd_pid=$(pgrep -g "$PGID" -f 'workerd serve' | head -n 1 || true)

  # A real contact (through a form) who will move into the segment with one order.
  form=$(curl -s -X POST "$app/admin/v1/forms" -H "$AUTH" -H 'Content-Type: application/json' --data \
    '{"name":"B","allowed_origins":["https://shop.example"],"double_opt_in":false,"fields":[{"key":"email","type":"email","required":true},{"key":"country","type":"text"}],"consents":[{"purpose":"marketing_email","required":true,"policy_version":"1","text":{"en":"Offers"}}]}' | json_field id)
  curl -s -o /dev/null -X POST "$app/v1/forms/$form/submissions" -H 'Content-Type: application/json' -H 'Origin: https://shop.example' \
    --data '{"fields":{"email":"mover@example.com","country":"BR"},"consents":{"marketing_email":true}}'

  t0=$(now_ms)
  segment=$(curl -s -X POST "$app/admin/v1/segments" -H "$AUTH" -H 'Content-Type: application/json' --data \
    '{"name":"BR big spenders","rule":{"all":[{"field":"country","op":"eq","value":"BR"},{"field":"total_spent","op":"gte","value":"500.00"}]}}' | json_field id)
  [[ $segment == seg_* ]] || die "could not create the segment"
  state=""
  for _ in $(seq 7200); do
    state=$(curl -s -H "$AUTH" "$app/admin/v1/segments/$segment" | json_field state)
    [[ $state == ready ]] && break
    sleep 0.25
  done
  [[ $state == ready ]] || die "segment not ready within 30 minutes at $n"
  rebuild_ms=$(($(now_ms) - t0))
  size=$(curl -s -H "$AUTH" "$app/admin/v1/segments/$segment" | json_field size)
  log "$n contacts: rebuild ${rebuild_ms} ms, $size members"

  t0=$(now_ms)
  curl -s -o /dev/null -X POST "$app/admin/v1/orders" -H "$AUTH" -H 'Content-Type: application/json' --data \
    '{"orders":[{"external_id":"mover-1","email":"mover@example.com","total":"900.00","currency":"BRL","placed_at":"2026-11-01T12:00:00Z"}]}'
  moved=""
  for _ in $(seq 1200); do
    now_size=$(curl -s -H "$AUTH" "$app/admin/v1/segments/$segment" | json_field size)
    if [[ $now_size == $((size + 1)) ]]; then
      moved=yes
      break
    fi
    sleep 0.05
  done
  [[ -n $moved ]] || die "the order did not move the contact in at $n"
  incremental_ms=$(($(now_ms) - t0))
  sleep 1
  rows_line=$(grep -o 'd1-rows contacts_changed contacts=[0-9]* read=[0-9]* written=[0-9]*' "$OUT/seg-$n-wrangler.log" | tail -n 1 || true)
  inc_read=$(sed -n 's/.*read=\([0-9]*\).*/\1/p' <<<"$rows_line")
  inc_written=$(sed -n 's/.*written=\([0-9]*\).*/\1/p' <<<"$rows_line")

  rss_before=$(awk '/^VmRSS/ { print $2 }' "/proc/$workerd_pid/status" 2>/dev/null || echo 0)
  read -r bytes seconds < <(curl -s -o /dev/null -H "$AUTH" -w '%{size_download} %{time_total}\n' "$app/admin/v1/segments/$segment/export.csv")
  hwm_after=$(awk '/^VmHWM/ { print $2 }' "/proc/$workerd_pid/status" 2>/dev/null || echo 0)
  rows_per_s=$(awk -v r="$((size + 1))" -v s="$seconds" 'BEGIN { printf "%.0f", (s > 0) ? r / s : 0 }')
  log "$n contacts: incremental ${incremental_ms} ms (read ${inc_read:-?}, written ${inc_written:-?}); export $((size + 1)) rows in ${seconds}s = $rows_per_s rows/s, $bytes bytes"
  ROWS+="| $n | $gen_ms | $rebuild_ms | $((size + 1)) | $incremental_ms | ${inc_read:-?} / ${inc_written:-?} | $seconds | $rows_per_s | $((rss_before / 1024)) | $((hwm_after / 1024)) |"$'\n'
  stop_worker
  rm -rf "$dir"
done

section=$(
  cat <<EOF
<!-- segments-at-scale:start -->
## Segments at scale

Generated by \`make bench\` (scripts/bench-segments.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'), same machine as above.
A generated base (all active with marketing consent, two thirds BR, spending spread over
0–999.00) and the rule \`country eq BR AND total_spent gte 500.00\` (about a third of the base).
Rebuild: from \`POST /admin/v1/segments\` until \`ready\` (queue-driven set-based chunks of 2000
contacts, each message working up to 8 s). Incremental: from \`POST /admin/v1/orders\` for one
contact until the segment's size counts them (includes the queue's batching delay of up to 1 s;
no rebuild); D1 rows are what the queue consumer's whole \`ContactChanged\` batch read and
wrote (facts of the contact, every live segment evaluated in Rust, the membership insert and the
size recount). Export: the whole CSV (default columns, two signed URLs per row) over loopback.
Memory is the workerd process (runtime, local D1 and all): VmRSS before the export and VmHWM
(peak) after it. Local D1 is SQLite inside workerd, so these times are not production D1 times;
how they grow with size is the point.

| contacts | generate (ms) | full rebuild (ms) | members | incremental (ms) | D1 rows read / written per incremental update | export (s) | export rows/s | workerd RSS before export (MiB) | workerd peak (MiB) |
|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|
${ROWS}
<!-- segments-at-scale:end -->
EOF
)
if grep -q '<!-- segments-at-scale:start -->' "$REPORT" 2>/dev/null; then
  node -e '
    const fs = require("fs");
    const [file, section] = [process.argv[1], process.argv[2]];
    const text = fs.readFileSync(file, "utf8");
    fs.writeFileSync(file, text.replace(/<!-- segments-at-scale:start -->[\s\S]*<!-- segments-at-scale:end -->/, section));' "$REPORT" "$section"
else
  printf '\n%s\n' "$section" >>"$REPORT"
fi
log "wrote the segments section of BENCHMARKS.md"
