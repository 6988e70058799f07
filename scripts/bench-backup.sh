#!/usr/bin/env bash
# `make bench-backup` (and the last part of `make bench`): how long a backup and a restore take,
# and how big a backup is, for a realistic base of BENCH_BACKUP_CONTACTS (default 100000). The
# base is scripts/bench-scale-gen.py's (consent proof, tokens, outbox, audit, orders, survey
# answers, segment memberships: see its header) in a fresh local D1; then
#   - the backup: `wrangler dev` with PLATFORM_LIMITS=enforce and D1_QUERIES_PER_INVOCATION=1000,
#     POST /admin/v1/backups and GET …/backups/{id} until `ready` (the queue job, chunk by
#     chunk, under the per-invocation limits); the sealed size and object count from the run;
#   - the restore: the release build of src/bin/clientela-restore (what `make restore` runs),
#     from the local bucket into a second, empty local D1, with the first as SOURCE; its
#     contacts counted against the source's.
# The figures go into BENCHMARKS.md between the "backup" markers. A measurement, not a test.

set -euo pipefail
# shellcheck source=scripts/bench-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-env.sh"

N=${BENCH_BACKUP_CONTACTS:-100000}
[[ $N =~ ^[0-9]+$ ]] || { echo "bench-backup: BENCH_BACKUP_CONTACTS must be a number" >&2; exit 1; }
STATE="$ROOT/target/bench-state/backup-$$"
TARGET="$STATE-restored"
LOG="$OUT/backup-$N-wrangler.log"
mkdir -p "$STATE"

log() { echo "bench-backup: $*" >&2; }
die() {
  echo "bench-backup: error: $*" >&2
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
  rm -rf "$STATE" "$TARGET"
  exit "$status"
}
trap cleanup EXIT
now_ms() { date +%s%3N; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }

grep -q '^BACKUP_KEYS=' .dev.vars || die ".dev.vars has no BACKUP_KEYS: run make setup"

log "building the restore tool (release)"
cargo build --quiet --release --bin clientela-restore

# --- the base ---------------------------------------------------------------------------------
log "$N contacts: schema, migrations and the generated base"
timeout 300 wrangler d1 execute DB --local --file schema.sql --persist-to "$STATE" >"$OUT/backup-schema.log" 2>&1 ||
  die "schema failed: $OUT/backup-schema.log"
CI=true timeout 300 wrangler d1 migrations apply DB --local --persist-to "$STATE" </dev/null >>"$OUT/backup-schema.log" 2>&1 ||
  die "migrations failed: $OUT/backup-schema.log"
DBFILE=$(find "$STATE/v3/d1" -name '*.sqlite' ! -name metadata.sqlite | head -n 1)
[[ -f $DBFILE ]] || die "no local D1 file under $STATE/v3/d1"
BENCH_SCALE_DAYS=${BENCH_SCALE_DAYS:-730} python3 scripts/bench-scale-gen.py "$DBFILE" "$N" 2>"$OUT/backup-gen.log" ||
  die "generator failed: $OUT/backup-gen.log"
read -r contacts rows db_bytes < <(python3 - "$DBFILE" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name <> 'd1_migrations'")]
rows = sum(db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables)
pages = db.execute("PRAGMA page_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
print(db.execute("SELECT COUNT(*) FROM contacts").fetchone()[0], rows, pages)
PY
)
log "$contacts contacts, $rows rows in all, $db_bytes bytes of D1"

# --- the backup ---------------------------------------------------------------------------------
port=$(free_port)
inspect=$(free_port)
app="http://127.0.0.1:$port"
setsid wrangler dev --ip 127.0.0.1 --port "$port" --inspector-port "$inspect" --show-interactive-dev-session=false \
  --persist-to "$STATE" --var "PUBLIC_BASE_URL:$app" --var PLATFORM_LIMITS:enforce \
  --var D1_QUERIES_PER_INVOCATION:1000 </dev/null >"$LOG" 2>&1 &
PGID=$!
for _ in $(seq 360); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$app/healthz") == 200 ]] && break
  sleep 0.25
done
[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$app/healthz") == 200 ]] || die "wrangler dev did not start: $LOG"

t0=$(now_ms)
curl -s -X POST "$app/admin/v1/backups" -H "$AUTH" >"$OUT/backup-run.json"
run=$(json_field id <"$OUT/backup-run.json")
[[ -n $run ]] || die "POST /admin/v1/backups: $(cat "$OUT/backup-run.json")"
state=""
for _ in $(seq 7200); do
  curl -s -H "$AUTH" "$app/admin/v1/backups/$run" >"$OUT/backup-run.json"
  state=$(json_field state <"$OUT/backup-run.json")
  [[ $state =~ ^(ready|failed)$ ]] && break
  sleep 0.25
done
backup_ms=$(($(now_ms) - t0))
[[ $state == ready ]] || die "backup $run did not finish: $(cat "$OUT/backup-run.json")"
sealed=$(json_field bytes <"$OUT/backup-run.json")
objects=$(json_field objects <"$OUT/backup-run.json")
copied=$(json_field rows <"$OUT/backup-run.json")
limits=$(grep -c 'platform limit exceeded:' "$LOG" || true)
log "backup $run: $(secs $backup_ms) s, $objects objects, $sealed bytes sealed, $copied rows"
stop_worker

# --- the restore --------------------------------------------------------------------------------
t0=$(now_ms)
"$ROOT/target/release/clientela-restore" "$run" --target local --target-state "$TARGET" \
  --source local --state "$STATE" >"$OUT/backup-restore.log" 2>&1 || die "restore failed: $OUT/backup-restore.log"
restore_ms=$(($(now_ms) - t0))
restored=$(wrangler d1 execute DB --local --persist-to "$TARGET" --json --command "SELECT COUNT(*) AS n FROM contacts" 2>/dev/null |
  json_field 0.results.0.n)
[[ $restored == "$contacts" ]] || die "the restore holds $restored contacts, the source $contacts"
log "restore: $(secs $restore_ms) s, $restored contacts"
# The restore's own steps, as it printed them ("<what> (<seconds> s)").
STEPS=$(sed -n 's/^\(.*\) (\([0-9.]*\) s)$/| \1 | \2 s |/p' "$OUT/backup-restore.log" | sed "s|$ROOT/||g")

cpus=$(nproc)
section=$(
  cat <<EOF
<!-- backup:begin -->
## Backup and restore

Generated by \`make bench-backup\` (scripts/bench-backup.sh; also run by \`make bench\`) with
\`BENCH_BACKUP_CONTACTS=$N\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $cpus CPUs, commit $(git rev-parse --short HEAD).
The base is \`make bench-scale\`'s generator's (consent proof, tokens, outbox, audit, orders, survey
answers, memberships); the backup runs in \`wrangler dev\` under \`PLATFORM_LIMITS=enforce\` with
\`D1_QUERIES_PER_INVOCATION=1000\`; the restore is the release build of the restore tool from the
local bucket into an empty local D1. Local D1 and R2 are SQLite and files inside workerd: times are
this machine's, not production's (there, each R2 put and D1 call crosses the network).

| measure | value |
|---|--:|
| contacts | $contacts |
| rows in every table | $rows |
| D1 database size | $((db_bytes / 1024 / 1024)) MiB |
| backup time (POST to \`ready\`) | $(secs $backup_ms) s |
| backup objects (sealed chunks and manifest) | $objects |
| backup size, compressed and sealed | $((sealed / 1024 / 1024)) MiB ($sealed bytes) |
| rows copied (the run's own \`backup.requested\` audit row included) | $copied |
| platform limits exceeded during the backup | $limits |
| restore time (fetch, check, rebuild, load) | $(secs $restore_ms) s |
| contacts after the restore | $restored |

The restore's steps (most of its time is one Node.js start per \`wrangler\` call: an object
fetched, a file loaded):

| step | time |
|---|--:|
$STEPS
<!-- backup:end -->
EOF
)
python3 - "$REPORT" "$section" <<'PY'
import re, sys
path, section = sys.argv[1], sys.argv[2]
text = open(path).read()
if "<!-- backup:begin -->" in text:
    text = re.sub(r"<!-- backup:begin -->.*?<!-- backup:end -->", lambda _: section, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
log "written to BENCHMARKS.md"
