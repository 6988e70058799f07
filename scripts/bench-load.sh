#!/usr/bin/env bash
# `make bench` (third part): load and enumeration timing, written to BENCHMARKS.md between the
# "load" markers. Against one fresh `wrangler dev` of Clientela on loopback (bench/load.mjs is
# the client, Node.js 22 over keep-alive HTTP/1.1):
#   - signup capture and survey answers at rising concurrency (BENCH_LOAD_LEVELS, each level
#     held BENCH_LOAD_SECONDS): answers per second, p50/p99 of the answered, error rate with the
#     limiter's intended 429s counted apart, and the knee (the lowest concurrency reaching 90% of
#     the best throughput);
#   - enumeration timing: BENCH_TIMING_SAMPLES requests each for known and unknown addresses on
#     POST /v1/me/link and on signup, interleaved one at a time; the median difference;
#   - the queue fault-injection stories' figures (tests/api/queue_faults.rs).
# A measurement, not a test: nothing here asserts a time.

set -euo pipefail
# shellcheck source=scripts/bench-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-env.sh"

LEVELS=${BENCH_LOAD_LEVELS:-"1,2,4,8,16,32,64,128"}
SECONDS_PER_LEVEL=${BENCH_LOAD_SECONDS:-5}
SAMPLES=${BENCH_TIMING_SAMPLES:-200}
STATE="$ROOT/target/bench-state/load-$$"
mkdir -p "$STATE"

log() { echo "bench-load: $*" >&2; }
die() {
  echo "bench-load: error: $*" >&2
  exit 1
}
[[ $LEVELS =~ ^[0-9]+(,[0-9]+)*$ ]] || die "BENCH_LOAD_LEVELS must be a comma list of numbers"
[[ $SAMPLES =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIMING_SAMPLES must be a positive number"

PGIDS=()
cleanup() {
  local status=$? pgid
  set +e
  for pgid in "${PGIDS[@]}"; do
    kill -TERM -- "-$pgid" 2>/dev/null
  done
  sleep 1
  for pgid in "${PGIDS[@]}"; do
    kill -KILL -- "-$pgid" 2>/dev/null
  done
  rm -rf "$STATE"
  exit "$status"
}
trap cleanup EXIT


# Queue faults: the integration stories that crash the consumer mid-batch and poison a message
# (tests/api/queue_faults.rs, their own wrangler dev) print the figures this report quotes.
log "queue faults: the fault-injection stories (cargo test --test api)"
cargo test --test api -- clean_run dead_letter >"$OUT/faults.log" 2>&1 ||
  die "the fault-injection stories failed: $OUT/faults.log"
FAULTS=$(sed -n 's/^fault-figures [a-z]*: /- /p' "$OUT/faults.log")

# start_worker NAME URL_VAR [wrangler args...]: a fresh `wrangler dev` in its own process group,
# its base URL left in the variable named URL_VAR once it answers (the baseline answers 202).
start_worker() {
  local name=$1 url_var=$2 port ready
  shift 2
  port=$(free_port)
  setsid wrangler dev --ip 127.0.0.1 --port "$port" --inspector-port "$(free_port)" \
    --show-interactive-dev-session=false --persist-to "$STATE/$name" "$@" \
    </dev/null >"$OUT/load-$name-wrangler.log" 2>&1 &
  PGIDS+=("$!")
  ready=$([[ $name == clientela ]] && echo /healthz || echo /)
  for _ in $(seq 360); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port$ready") == 20[02] ]] && break
    sleep 0.25
  done
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port$ready") == 20[02] ]] ||
    die "$name: wrangler dev did not start: $OUT/load-$name-wrangler.log"
  printf -v "$url_var" '%s' "http://127.0.0.1:$port"
}

timeout 120 wrangler d1 execute DB --local --file schema.sql --persist-to "$STATE/clientela" \
  >"$OUT/load-schema.log" 2>&1 || die "schema failed: $OUT/load-schema.log"
CI=true timeout 120 wrangler d1 migrations apply DB --local --persist-to "$STATE/clientela" </dev/null \
  >>"$OUT/load-schema.log" 2>&1 || die "migrations failed: $OUT/load-schema.log"
timeout 120 wrangler d1 execute DB --local --file bench/insert-queue/schema.sql \
  --config bench/insert-queue/wrangler.toml --persist-to "$STATE/baseline" \
  >"$OUT/load-schema-baseline.log" 2>&1 || die "baseline schema failed: $OUT/load-schema-baseline.log"
app=""
baseline=""
start_worker clientela app
start_worker baseline baseline --config bench/insert-queue/wrangler.toml
[[ -n $app && -n $baseline ]] || die "the workers did not start"

form=$(curl -s -X POST "$app/admin/v1/forms" -H "$AUTH" -H 'Content-Type: application/json' --data \
  '{"name":"Load","allowed_origins":["https://shop.example"],"double_opt_in":true,"fields":[{"key":"email","type":"email","required":true},{"key":"name","type":"text"}],"consents":[{"purpose":"marketing_email","required":true,"policy_version":"1","text":{"en":"Offers"}}]}' | json_field id)
[[ $form == frm_* ]] || die "could not create the load form"

# Known addresses for the timing probe: existing active contacts, imported (an import is not a
# form submission, so no per-address submission limit is spent on them).
{
  echo "email,name"
  for ((i = 0; i < 2 * SAMPLES; i++)); do echo "known-$$-$i@example.com,Known $i"; done
} >"$STATE/known.csv"
code=$(curl -s -o "$OUT/load-import.json" -w '%{http_code}' -X POST "$app/admin/v1/contacts/import" -H "$AUTH" \
  -H 'Content-Type: text/csv' --data-binary "@$STATE/known.csv")
[[ $code == 200 ]] || die "importing the known addresses answered $code: $(head -c 300 "$OUT/load-import.json")"
# sed, not head: head exits early and, under pipefail, its writer's SIGPIPE would end the run.
sed -n "2,$((SAMPLES + 1))p" "$STATE/known.csv" | cut -d, -f1 >"$STATE/known-link.txt"
tail -n +2 "$STATE/known.csv" | cut -d, -f1 | tail -n "$SAMPLES" >"$STATE/known-signup.txt"

log "timing: $SAMPLES known and $SAMPLES unknown addresses on /v1/me/link, then on signup"
node bench/load.mjs timing "$app" link "$SAMPLES" "$STATE/known-link.txt" >"$OUT/timing-link.json"
node bench/load.mjs timing "$app" signup "$SAMPLES" "$STATE/known-signup.txt" "$form" >"$OUT/timing-signup.json"

log "load: signup capture at concurrency $LEVELS, ${SECONDS_PER_LEVEL}s each"
node bench/load.mjs ramp "$app" signup "$LEVELS" "$SECONDS_PER_LEVEL" "$form" >"$OUT/load-signup.json"
log "load: the JS baseline (one D1 insert + one queue send) at the same concurrencies"
node bench/load.mjs ramp "$baseline" baseline "$LEVELS" "$SECONDS_PER_LEVEL" >"$OUT/load-baseline.json"

# Survey answers use up their link: one invitation per answer, made beforehand. Enough for the
# best throughput signup reached, held at every level (answers are cheaper than signups).
survey=$(curl -s -X POST "$app/admin/v1/surveys" -H "$AUTH" -H 'Content-Type: application/json' --data \
  '{"name":"Load","questions":[{"key":"nps","type":"nps","required":true,"text":{"en":"Recommend us?"}},{"key":"csat","type":"csat","text":{"en":"Satisfied?"}},{"key":"why","type":"text","text":{"en":"Why?"}}]}' | json_field id)
[[ $survey == srv_* ]] || die "could not create the load survey"
levels_count=$(tr ',' '\n' <<<"$LEVELS" | wc -l)
best=$(json_field best_rps <"$OUT/load-signup.json")
tokens=$(awk -v b="$best" -v n="$levels_count" -v s="$SECONDS_PER_LEVEL" 'BEGIN { t = int(b * 2 * n * s + 2000); print (t > 60000) ? 60000 : t }')
log "load: inviting $tokens buyers to the survey"
node -e '
  const [base, key, survey, n] = process.argv.slice(1);
  (async () => {
    const out = [];
    for (let done = 0; done < Number(n); done += 200) {
      const batch = Array.from({ length: Math.min(200, Number(n) - done) }, (_, i) => ({ email: `buyer-${done + i}-${process.pid}@example.com` }));
      const r = await fetch(`${base}/admin/v1/surveys/${survey}/invitations`, { method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ invitations: batch }) });
      if (r.status !== 201) { console.error(await r.text()); process.exit(1); }
      for (const inv of (await r.json()).invitations) out.push(inv.url.split("/s/")[1]);
    }
    console.log(out.join("\n"));
  })();' "$app" "$ADMIN_KEY" "$survey" "$tokens" >"$STATE/tokens.txt" || die "survey invitations failed"
log "load: survey answers at concurrency $LEVELS, ${SECONDS_PER_LEVEL}s each"
node bench/load.mjs ramp "$app" survey "$LEVELS" "$SECONDS_PER_LEVEL" "$STATE/tokens.txt" >"$OUT/load-survey.json"

# ramp_table FILE: one row per concurrency, with ratios to the JS baseline at the same concurrency.
ramp_table() {
  node -e '
    const fs = require("fs");
    const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const base = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
    const ratio = (a, b) => (a != null && b) ? `${(a / b).toFixed(2)}×` : "–";
    for (const l of r.levels) {
      const b = base.levels.find((x) => x.concurrency === l.concurrency) || {};
      const other = Object.entries(l.statuses).filter(([s]) => !(s >= 200 && s < 300) && s != 429).map(([s, n]) => `${n}×${s === "0" ? "no answer" : s}`).join(", ");
      console.log(`| ${l.concurrency}${l.concurrency === r.knee_concurrency ? " (knee)" : ""} | ${l.requests} | ${l.rps} | ${l.p50_ms ?? "–"} | ${l.p99_ms ?? "–"} | ${l.limited} | ${(l.error_rate * 100).toFixed(2)}%${other ? ` (${other})` : ""} | ${ratio(l.rps, b.rps)} | ${ratio(l.p99_ms, b.p99_ms)} |`);
    }' "$1" "$OUT/load-baseline.json"
}
timing_row() {
  node -e '
    const t = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const st = (s) => Object.entries(s).map(([k, n]) => `${n}×${k}`).join(", ");
    console.log(`| ${process.argv[2]} | ${t.samples} + ${t.samples} | ${t.known_median_ms} | ${t.unknown_median_ms} | **${t.difference_ms}** | ${t.known_p90_ms} / ${t.unknown_p90_ms} | ${st(t.statuses.known)} / ${st(t.statuses.unknown)} |`);' "$1" "$2"
}
signup_knee=$(json_field knee_concurrency <"$OUT/load-signup.json")
baseline_knee=$(json_field knee_concurrency <"$OUT/load-baseline.json")
baseline_best=$(json_field best_rps <"$OUT/load-baseline.json")
survey_knee=$(json_field knee_concurrency <"$OUT/load-survey.json")

section=$(
  cat <<EOF
<!-- load:start -->
## Load and enumeration timing

Generated by \`make bench\` (scripts/bench-load.sh, client bench/load.mjs) on $(date -u '+%Y-%m-%d %H:%M UTC'),
same machine as above: 2 cores shared by workerd (runtime and local D1) and the Node.js client,
so the knee is where this machine saturates, not production's. Closed-loop clients, each
sending its next request when the last is answered, ${SECONDS_PER_LEVEL} s per level, a new
address and client IP per request (so the per-IP limiter stays out of the figures); one fresh
\`wrangler dev\`. Latency percentiles are of answered (2xx) requests. Error rate is errors
(anything but 2xx and 429, connection failures included) over all requests but the 429s, which
are the limiter working as meant and are counted apart. Knee: the lowest concurrency reaching
90% of the best throughput; past it more clients only queue. The ratio columns compare with
the JS baseline (bench/insert-queue: one D1 insert and one queue send per request, the least a
stored signup with a follow-up job can cost) run at the same concurrency in the same run; its
knee was at ${baseline_knee} clients and its best ${baseline_best} answered/s.

### Signup capture (POST /v1/forms/{id}/submissions, double opt-in): knee at ${signup_knee} clients

| clients | requests | answered/s | p50 (ms) | p99 (ms) | 429s | error rate | answered/s vs baseline | p99 vs baseline |
|--:|--:|--:|--:|--:|--:|--:|--:|--:|
$(ramp_table "$OUT/load-signup.json")

### Survey answers (POST /v1/surveys/responses, NPS + CSAT + text): knee at ${survey_knee} clients

| clients | requests | answered/s | p50 (ms) | p99 (ms) | 429s | error rate | answered/s vs baseline | p99 vs baseline |
|--:|--:|--:|--:|--:|--:|--:|--:|--:|
$(ramp_table "$OUT/load-survey.json")

### Enumeration timing: known vs unknown addresses

Each sample one request, known and unknown interleaved (alternating which goes first), every
address used once. Known addresses are active contacts (imported); unknown ones were never seen.
The answer's bytes are identical either way (integration tests check that); this is its time.

| endpoint | samples (known + unknown) | known median (ms) | unknown median (ms) | median difference (ms) | p90 known / unknown (ms) | statuses known / unknown |
|--|--:|--:|--:|--:|--:|--|
$(timing_row "$OUT/timing-link.json" "POST /v1/me/link")
$(timing_row "$OUT/timing-signup.json" "POST /v1/forms/{id}/submissions")

### Queue faults

From the fault-injection stories (\`cargo test --test api -- clean_run dead_letter\`, run by
this script; see "Queue faults" in README.md). A clean run and a run whose consumer dies
mid-batch must leave the same state, and a message failing every attempt must reach the
dead-letter queue:

${FAULTS}
<!-- load:end -->
EOF
)
if grep -q '<!-- load:start -->' "$REPORT" 2>/dev/null; then
  node -e '
    const fs = require("fs");
    const [file, section] = [process.argv[1], process.argv[2]];
    const text = fs.readFileSync(file, "utf8");
    fs.writeFileSync(file, text.replace(/<!-- load:start -->[\s\S]*<!-- load:end -->/, section));' "$REPORT" "$section"
else
  printf '\n%s\n' "$section" >>"$REPORT"
fi
log "wrote the load section of BENCHMARKS.md"
