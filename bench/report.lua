-- wrk script for `make bench`: prints one machine-readable line after the run, so
-- scripts/bench.sh does not have to parse wrk's human-readable units.
--   BENCH p50_us=.. p99_us=.. rps=.. requests=.. non2xx=.. socket_errors=..
-- `non2xx` is wrk's errors.status: responses with a status of 400 or more (wrk counts
-- neither 2xx nor 3xx). Optional request shape from the environment, for scenarios
-- that are not a plain GET: BENCH_METHOD, BENCH_BODY (headers come from wrk -H).
local method = os.getenv("BENCH_METHOD")
local body = os.getenv("BENCH_BODY")
if method and method ~= "" then wrk.method = method end
if body and body ~= "" then wrk.body = body end

done = function(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "BENCH p50_us=%d p99_us=%d rps=%.1f requests=%d non2xx=%d socket_errors=%d\n",
    latency:percentile(50), latency:percentile(99),
    summary.requests / seconds, summary.requests,
    e.status, e.connect + e.read + e.write + e.timeout))
end

-- BENCH_UNIQUE=1: every request gets its own `{n}` in the body (a unique email, say) and its own
-- CF-Connecting-IP, so per-address and per-IP rate limits measure work, not refusals.
if os.getenv("BENCH_UNIQUE") == "1" then
  local threads = 0
  setup = function(thread)
    threads = threads + 1
    thread:set("thread_no", threads)
  end
  local sent = 0
  request = function()
    sent = sent + 1
    local n = string.format("%d-%d-%d", os.time(), thread_no or 0, sent)
    local headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    headers["CF-Connecting-IP"] = string.format("10.%d.%d.%d", thread_no or 0,
      math.floor(sent / 250) % 250, sent % 250 + 1)
    return wrk.format(nil, nil, headers, (wrk.body or ""):gsub("{n}", n))
  end
end
