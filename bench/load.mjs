// Load and timing probes for `make bench` (scripts/bench-load.sh), run with Node.js 22 over
// loopback against a local `wrangler dev`. Prints one JSON document on stdout.
//
//   node bench/load.mjs ramp   BASE KIND LEVELS SECONDS [FORM_ID | TOKENS_FILE]
//     KIND signup: POST /v1/forms/FORM_ID/submissions, a new address and client IP per request.
//     KIND survey: POST /v1/surveys/responses, one invitation token (a line of TOKENS_FILE) per
//     request. KIND baseline: POST / to bench/insert-queue (one D1 insert and one queue send in
//     JS) with the signup body, the yardstick for both. LEVELS is a comma list of concurrencies, each held for SECONDS: closed-loop
//     clients, each sending its next request when the last one is answered.
//   node bench/load.mjs timing BASE KIND SAMPLES KNOWN_FILE [FORM_ID]
//     KIND link or signup: SAMPLES requests for addresses in KNOWN_FILE (existing contacts) and
//     SAMPLES for addresses nobody holds, interleaved one at a time, each address used once.
//
// 429s are counted apart from errors: they are the rate limiter doing its job, not a failure.
import http from "node:http";
import { readFileSync } from "node:fs";

const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
const run = `${process.pid}-${Date.now()}`;
let ipCounter = 0;
// A distinct client IP per request keeps the per-IP limiter out of the throughput figures.
const nextIp = () => {
  const n = ipCounter++;
  return `10.${100 + ((n >> 16) & 63)}.${(n >> 8) & 255}.${n & 255}`;
};

function post(base, path, body, headers = {}) {
  const payload = JSON.stringify(body);
  const url = new URL(path, base);
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const req = http.request(
      {
        host: url.hostname, port: url.port, path: url.pathname, method: "POST", agent,
        headers: {
          "content-type": "application/json", "content-length": Buffer.byteLength(payload),
          "cf-connecting-ip": nextIp(), ...headers,
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
      },
    );
    req.on("error", () => resolve({ status: 0, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    req.setTimeout(30000, () => req.destroy());
    req.end(payload);
  });
}

const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] : null);
const median = (xs) => percentile([...xs].sort((a, b) => a - b), 50);

function requestMaker(base, kind, arg) {
  if (kind === "signup") {
    let n = 0;
    return () => post(base, `/v1/forms/${arg}/submissions`,
      { fields: { email: `load-${run}-${n++}@example.com`, name: "Load Test" }, consents: { marketing_email: true } },
      { origin: "https://shop.example" });
  }
  if (kind === "baseline") {
    let n = 0;
    return () => post(base, "/",
      { fields: { email: `load-${run}-${n++}@example.com`, name: "Load Test" }, consents: { marketing_email: true } });
  }
  if (kind === "survey") {
    const tokens = readFileSync(arg, "utf8").split("\n").filter(Boolean);
    let next = 0;
    return () => {
      if (next >= tokens.length) return null;
      const i = next++;
      return post(base, "/v1/surveys/responses",
        { token: tokens[i], answers: { nps: i % 11, csat: (i % 5) + 1, why: "load test" } });
    };
  }
  throw new Error(`unknown kind ${kind}`);
}

async function level(send, concurrency, seconds) {
  const latencies = [];
  const counts = { ok: 0, limited: 0, errors: 0 };
  const statuses = {};
  let exhausted = false;
  const deadline = Date.now() + seconds * 1000;
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < deadline) {
      const pending = send();
      if (!pending) { exhausted = true; return; }
      const { status, ms } = await pending;
      statuses[status] = (statuses[status] || 0) + 1;
      if (status >= 200 && status < 300) { counts.ok++; latencies.push(ms); }
      else if (status === 429) counts.limited++;
      else counts.errors++;
    }
  }));
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  const total = counts.ok + counts.limited + counts.errors;
  return {
    concurrency, seconds: +elapsed.toFixed(2), requests: total, ...counts, statuses, exhausted,
    rps: +(counts.ok / elapsed).toFixed(1),
    error_rate: total - counts.limited ? +(counts.errors / (total - counts.limited)).toFixed(4) : 0,
    p50_ms: latencies.length ? +percentile(latencies, 50).toFixed(2) : null,
    p99_ms: latencies.length ? +percentile(latencies, 99).toFixed(2) : null,
  };
}

async function ramp(base, kind, levels, seconds, arg) {
  const send = requestMaker(base, kind, arg);
  await level(send, 4, 1); // warm the isolate and the database before measuring
  const results = [];
  for (const c of levels) {
    const r = await level(send, c, seconds);
    results.push(r);
    process.stderr.write(`load ${kind} c=${c}: ${r.rps} ok/s p99 ${r.p99_ms} ms errors ${r.errors} 429s ${r.limited}\n`);
    if (r.exhausted) break;
  }
  // The knee: the lowest concurrency that already reaches 90% of the best throughput seen;
  // past it more clients only add queueing (latency), not answers.
  const best = Math.max(...results.map((r) => r.rps));
  const knee = results.find((r) => r.rps >= 0.9 * best);
  return { kind, levels: results, best_rps: best, knee_concurrency: knee?.concurrency ?? null };
}

async function timing(base, kind, samples, knownFile, formId) {
  const known = readFileSync(knownFile, "utf8").split("\n").filter(Boolean);
  if (known.length < samples) throw new Error(`need ${samples} known addresses, have ${known.length}`);
  const send = (email) => kind === "link"
    ? post(base, "/v1/me/link", { email })
    : post(base, `/v1/forms/${formId}/submissions`,
      { fields: { email, name: "Timing Probe" }, consents: { marketing_email: true } },
      { origin: "https://shop.example" });
  const times = { known: [], unknown: [] };
  const statuses = { known: {}, unknown: {} };
  for (let i = 0; i < samples; i++) {
    // Alternate which goes first so drift in the machine's load falls on both sides alike.
    const pair = [["known", known[i]], ["unknown", `nobody-${run}-${kind}-${i}@example.com`]];
    if (i % 2) pair.reverse();
    for (const [side, email] of pair) {
      const { status, ms } = await send(email);
      statuses[side][status] = (statuses[side][status] || 0) + 1;
      times[side].push(ms);
    }
  }
  const mk = median(times.known), mu = median(times.unknown);
  return {
    kind, samples, statuses,
    known_median_ms: +mk.toFixed(2), unknown_median_ms: +mu.toFixed(2),
    difference_ms: +Math.abs(mk - mu).toFixed(2),
    known_p90_ms: +percentile([...times.known].sort((a, b) => a - b), 90).toFixed(2),
    unknown_p90_ms: +percentile([...times.unknown].sort((a, b) => a - b), 90).toFixed(2),
  };
}

const [mode, base, kind, ...rest] = process.argv.slice(2);
let result;
if (mode === "ramp") {
  const [levels, seconds, arg] = rest;
  result = await ramp(base, kind, levels.split(",").map(Number), Number(seconds), arg);
} else if (mode === "timing") {
  const [samples, knownFile, formId] = rest;
  result = await timing(base, kind, Number(samples), knownFile, formId);
} else {
  console.error("usage: load.mjs ramp|timing BASE KIND ...");
  process.exit(2);
}
console.log(JSON.stringify(result));
agent.destroy();
