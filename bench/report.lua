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
