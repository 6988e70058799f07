#!/usr/bin/env bash
# `make bench-scale`: Clientela on a realistic base under the platform-limits guard at the paid
# plan's 1,000 D1 queries per invocation. One fresh local D1 (schema.sql and every migration) is
# filled with BENCH_SCALE_CONTACTS (default 1000000) production-like contacts by
# scripts/bench-scale-gen.py (its header says what one contact is and why it writes through the
# service's own SQL, read out of src/store), then `wrangler dev --test-scheduled` runs with
# PLATFORM_LIMITS=enforce, D1_QUERIES_PER_INVOCATION=1000 and D1_ROW_METER=on and we measure:
#   - bytes per contact and per confirmed subscriber: PRAGMA page_count * page_size over the
#     counts, and the largest tables and indexes from SQLite's dbstat;
#   - the daily run: GET /__scheduled?cron=17+3+*+*+*, until the queue is idle (every segment
#     `ready` and wrangler's log quiet for BENCH_SCALE_QUIET seconds; the quiet wait is not counted);
#   - a full rebuild: POST /admin/v1/segments until `ready`;
#   - preview (POST /admin/v1/segments/preview) and survey results (GET …/results) times;
#   - the export: the export job (POST /admin/v1/segments/{id}/exports) when the route exists,
#     else the direct GET …/export.csv; rows/s and workerd's peak memory (VmHWM);
#   - the most D1 queries any one invocation made: the `d1-calls <path> used=<n>` lines the
#     guard logs with D1_ROW_METER=on (n/a when the build does not log them), and every
#     `platform limit exceeded:` line.
# The figures go into BENCHMARKS.md between the "scale" markers. A measurement, not a test.
# Knobs: BENCH_SCALE_CONTACTS, BENCH_SCALE_DAYS (signups spread over, default 730),
# BENCH_SCALE_QUIET (default 8), BENCH_SCALE_STATE_DIR (default target/bench-state),
# BENCH_SCALE_KEEP=1 keeps the state there.

set -euo pipefail
# shellcheck source=scripts/bench-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-env.sh"

N=${BENCH_SCALE_CONTACTS:-1000000}
QUIET=${BENCH_SCALE_QUIET:-8}
[[ $N =~ ^[0-9]+$ ]] || { echo "bench-scale: BENCH_SCALE_CONTACTS must be a number" >&2; exit 1; }
# At 1M the local D1 is ~3.5 GB: BENCH_SCALE_STATE_DIR=/dev/shm puts it in memory when the disk is short.
STATE="${BENCH_SCALE_STATE_DIR:-$ROOT/target/bench-state}/scale-$$"
LOG="$OUT/scale-$N-wrangler.log"
mkdir -p "$STATE"

log() { echo "bench-scale: $*" >&2; }
die() {
  echo "bench-scale: error: $*" >&2
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
  [[ ${BENCH_SCALE_KEEP:-} == 1 ]] || rm -rf "$STATE"
  exit "$status"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 600 -H "$AUTH" "$@"; }

# --- the base ---------------------------------------------------------------------------------
log "$N contacts: schema and migrations"
timeout 300 wrangler d1 execute DB --local --file schema.sql --persist-to "$STATE" >"$OUT/scale-schema.log" 2>&1 ||
  die "schema failed: $OUT/scale-schema.log"
CI=true timeout 300 wrangler d1 migrations apply DB --local --persist-to "$STATE" </dev/null >>"$OUT/scale-schema.log" 2>&1 ||
  die "migrations failed: $OUT/scale-schema.log"
DBFILE=$(find "$STATE/v3/d1" -name '*.sqlite' ! -name metadata.sqlite | head -n 1)
[[ -f $DBFILE ]] || die "no local D1 file under $STATE/v3/d1"
t0=$(now_ms)
python3 scripts/bench-scale-gen.py "$DBFILE" "$N" 2> >(tee "$OUT/scale-gen.log" >&2) || die "generator failed"
gen_s=$((($(now_ms) - t0) / 1000))

# Bytes: the whole file's pages over the people in it; the largest objects from dbstat.
read -r total_bytes contacts confirmed per_contact per_confirmed < <(python3 - "$DBFILE" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
pages = db.execute("PRAGMA page_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
n = db.execute("SELECT COUNT(*) FROM contacts").fetchone()[0]
active = db.execute("SELECT COUNT(*) FROM contacts WHERE status = 'active'").fetchone()[0]
print(pages, n, active, round(pages / max(n, 1)), round(pages / max(active, 1)))
PY
)
TABLES=$(python3 - "$DBFILE" "$contacts" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = int(sys.argv[2])
try:
    rows = db.execute("SELECT s.name, m.tbl_name, SUM(s.pgsize) FROM dbstat s LEFT JOIN sqlite_schema m ON m.name = s.name "
                      "GROUP BY s.name ORDER BY 3 DESC LIMIT 20").fetchall()
except sqlite3.OperationalError:
    print("| (this sqlite has no dbstat) | | |")
    sys.exit()
for name, table, size in rows:
    kind = "table" if name == table else f"index on {table}"
    print(f"| `{name}` | {kind} | {size / max(n, 1):.0f} |")
PY
)
log "$contacts contacts ($confirmed confirmed): $total_bytes bytes, $per_contact per contact, $per_confirmed per confirmed subscriber"

# --- the service --------------------------------------------------------------------------------
port=$(free_port)
inspect=$(free_port)
app="http://127.0.0.1:$port"
setsid wrangler dev --ip 127.0.0.1 --port "$port" --inspector-port "$inspect" --show-interactive-dev-session=false \
  --test-scheduled --persist-to "$STATE" --var "PUBLIC_BASE_URL:$app" --var PLATFORM_LIMITS:enforce \
  --var D1_QUERIES_PER_INVOCATION:1000 --var D1_ROW_METER:on </dev/null >"$LOG" 2>&1 &
PGID=$!
for _ in $(seq 360); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$app/healthz") == 200 ]] && break
  sleep 0.25
done
[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$app/healthz") == 200 ]] || die "wrangler dev did not start: $LOG"
workerd_pid=$(pgrep -g "$PGID" -f 'workerd serve' | head -n 1 || true)

# The generated form, survey and a contact read back through the service: a shape the
# service cannot parse fails the bench here, not silently in a figure.
survey=$(curl -s -H "$AUTH" "$app/admin/v1/surveys" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);const l=v.surveys||v.items||v.data||v;console.log((l[0]||{}).id||"")})')
form=$(python3 -c 'import hashlib; print("frm_" + hashlib.sha256(b"bench-scale-form").hexdigest()[:32])')
for path in "/admin/v1/forms/$form" "/admin/v1/surveys/$survey"; do
  [[ $(code "$app$path") == 200 ]] || die "the service cannot read the generated $path: $(curl -s -H "$AUTH" "$app$path")"
done

# Idle: no segment building and the log unchanged for QUIET seconds. Prints the ms at which the
# log last changed (the work's end), or fails after `limit` seconds.
wait_idle() {
  local limit=$1 size last_size="" last_change
  last_change=$(now_ms)
  for _ in $(seq $((limit * 2))); do
    size=$(stat -c %s "$LOG")
    if [[ $size != "$last_size" ]]; then
      last_size=$size
      last_change=$(now_ms)
    elif (($(now_ms) - last_change > QUIET * 1000)); then
      if ! curl -s -H "$AUTH" "$app/admin/v1/segments?limit=100" | grep -q '"state":"building"'; then
        echo "$last_change"
        return 0
      fi
    fi
    sleep 0.5
  done
  return 1
}

# The daily run.
lines_before=$(wc -l <"$LOG")
t0=$(now_ms)
[[ $(curl -s -o /dev/null -w '%{http_code}' "$app/__scheduled?cron=17+3+*+*+*") == 200 ]] || die "__scheduled failed"
end=$(wait_idle 3600) || die "the daily run did not finish within an hour"
daily_ms=$((end - t0))
# What the run did not finish: the tasks the cron or its jobs logged as failed.
daily_failed=$(tail -n +"$((lines_before + 1))" "$LOG" | sed 's/\x1b\[[0-9;]*m//g' |
  grep -o '[^:]*: [A-Za-z ]* failed' | sed 's/.*: //' | sort -u | paste -sd, - | sed 's/,/, /g' || true)
daily_outcome=${daily_failed:+"stopped: $daily_failed"}
daily_outcome=${daily_outcome:-"every task completed"}
log "daily run: ${daily_ms} ms ($daily_outcome)"

# A full rebuild of a new segment.
t0=$(now_ms)
segment=$(curl -s -X POST "$app/admin/v1/segments" -H "$AUTH" -H 'Content-Type: application/json' --data \
  '{"name":"BR big spenders","rule":{"all":[{"field":"country","op":"eq","value":"BR"},{"field":"total_spent","op":"gte","value":"500.00"}]}}' | json_field id)
[[ $segment == seg_* ]] || die "could not create the segment"
state=""
for _ in $(seq 14400); do
  state=$(curl -s -H "$AUTH" "$app/admin/v1/segments/$segment" | json_field state)
  [[ $state == ready ]] && break
  sleep 0.25
done
[[ $state == ready ]] || die "segment not ready within an hour"
rebuild_ms=$(($(now_ms) - t0))
size=$(curl -s -H "$AUTH" "$app/admin/v1/segments/$segment" | json_field size)
log "full rebuild: ${rebuild_ms} ms, $size members"

# Preview and survey results, one request each (curl's time_total).
preview=$(curl -s -o "$OUT/scale-preview.json" -w '%{http_code} %{time_total}' -X POST "$app/admin/v1/segments/preview" \
  -H "$AUTH" -H 'Content-Type: application/json' --data \
  '{"rule":{"all":[{"field":"country","op":"eq","value":"PT"},{"field":"temperature","op":"eq","value":"hot"}]}}')
results=$(curl -s -o "$OUT/scale-results.json" -w '%{http_code} %{time_total}' -H "$AUTH" "$app/admin/v1/surveys/$survey/results")
log "preview: $preview; survey results: $results"

# The export: the job when this build has it, else the direct stream.
rss_before=$(awk '/^VmRSS/ { print $2 }' "/proc/$workerd_pid/status" 2>/dev/null || echo 0)
t0=$(now_ms)
job_status=$(curl -s -o "$OUT/scale-export.json" -w '%{http_code}' -X POST "$app/admin/v1/segments/$segment/exports" \
  -H "$AUTH" -H 'Content-Type: application/json' --data '{"format":"csv"}')
if [[ $job_status == 202 ]]; then
  export_kind="job (POST …/exports, then the download)"
  job=$(json_field id <"$OUT/scale-export.json")
  for _ in $(seq 7200); do
    curl -s -H "$AUTH" "$app/admin/v1/exports/$job" >"$OUT/scale-export.json"
    [[ $(json_field state <"$OUT/scale-export.json") =~ ^(ready|failed)$ ]] && break
    sleep 0.5
  done
  [[ $(json_field state <"$OUT/scale-export.json") == ready ]] || die "export job did not finish: $(cat "$OUT/scale-export.json")"
  url=$(json_field download_url <"$OUT/scale-export.json")
  [[ -n $url ]] || url=$(json_field url <"$OUT/scale-export.json")
  [[ $url == http* ]] || url="$app$url"
  read -r status bytes < <(curl -s -o "$OUT/scale-export.csv" -w '%{http_code} %{size_download}\n' "$url")
else
  export_kind="direct GET …/export.csv (no export job route: $job_status)"
  read -r status bytes < <(curl -s -o "$OUT/scale-export.csv" -H "$AUTH" -w '%{http_code} %{size_download}\n' "$app/admin/v1/segments/$segment/export.csv")
fi
export_s=$(awk -v ms="$(($(now_ms) - t0))" 'BEGIN { printf "%.2f", ms / 1000 }')
hwm_after=$(awk '/^VmHWM/ { print $2 }' "/proc/$workerd_pid/status" 2>/dev/null || echo 0)
export_rows=$(($(wc -l <"$OUT/scale-export.csv") - 1))
rows_per_s=$(awk -v r="$export_rows" -v s="$export_s" 'BEGIN { printf "%.0f", (s > 0) ? r / s : 0 }')
log "export ($export_kind): HTTP $status, $export_rows rows of $size in ${export_s}s = $rows_per_s rows/s, $bytes bytes"
rm -f "$OUT/scale-export.csv"
sleep 2

# The most D1 queries in one invocation, and every limit the guard refused.
calls=$(grep -o 'd1-calls .* used=[0-9]*' "$LOG" | sort -t= -k2 -n | tail -n 1 || true)
max_calls=${calls##*used=}
[[ -n $calls ]] && max_where=$(sed 's/^d1-calls //; s/ used=.*//' <<<"$calls") || { max_calls="n/a"; max_where="(this build logs no d1-calls lines)"; }
limits=$(grep -c 'platform limit exceeded:' "$LOG" || true)
stop_worker

cpus=$(nproc)
section=$(
  cat <<EOF
<!-- scale:begin -->
## Scale: a realistic base under the platform limits

Generated by \`make bench-scale\` (scripts/bench-scale.sh, base from scripts/bench-scale-gen.py)
with \`BENCH_SCALE_CONTACTS=$N\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $cpus CPUs, commit $(git rev-parse --short HEAD).
\`wrangler dev --test-scheduled\` with \`PLATFORM_LIMITS=enforce\`, \`D1_QUERIES_PER_INVOCATION=1000\`
and \`D1_ROW_METER=on\`. Every contact signed up through a double opt-in form with consent proof,
its confirmation token and delivered email (while retention keeps them), audit rows, form
attributes and memberships of the segments whose rules it matches; a third are buyers with
orders, RFM and temperature, some answered a survey; signups are spread over the last
${BENCH_SCALE_DAYS:-730} days, so the base holds what the daily retention keeps (its steady state).
Local D1 is SQLite inside workerd: times are this machine's, not production's.

| measure | value |
|---|--:|
| contacts (confirmed subscribers) | $contacts ($confirmed) |
| generating the base | ${gen_s} s |
| database size | $((total_bytes / 1048576)) MiB |
| **bytes per contact** (page_count × page_size / contacts) | **$per_contact** |
| **bytes per confirmed subscriber** | **$per_confirmed** |
| daily run (cron \`17 3 * * *\` until the queue is idle) | ${daily_ms} ms ($daily_outcome) |
| full rebuild (\`country eq BR AND total_spent gte 500.00\`, $size members) | ${rebuild_ms} ms |
| preview (\`country eq PT AND temperature eq hot\`): HTTP status, seconds | $preview |
| survey results: HTTP status, seconds | $results |
| export: $export_kind | HTTP $status, $export_rows rows in ${export_s} s, **$rows_per_s rows/s** |
| workerd memory: RSS before the export, peak after (MiB) | $((rss_before / 1024)) / $((hwm_after / 1024)) |
| most D1 queries in one invocation | **$max_calls** $max_where |
| \`platform limit exceeded:\` lines in the whole run | $limits |

Largest tables and indexes (SQLite \`dbstat\`), bytes per contact:

| object | kind | bytes per contact |
|---|---|--:|
$TABLES
<!-- scale:end -->
EOF
)
if grep -q '<!-- scale:begin -->' "$REPORT" 2>/dev/null; then
  node -e '
    const fs = require("fs");
    const [file, section] = [process.argv[1], process.argv[2]];
    const text = fs.readFileSync(file, "utf8");
    fs.writeFileSync(file, text.replace(/<!-- scale:begin -->[\s\S]*<!-- scale:end -->/, () => section));' "$REPORT" "$section"
else
  printf '\n%s\n' "$section" >>"$REPORT"
fi
log "wrote the scale section of BENCHMARKS.md"
