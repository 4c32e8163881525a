-- wrk script shared by the bench scripts: the request comes from the environment
-- (BENCH_METHOD, default GET; BENCH_TOKEN, the bearer token, optional; BENCH_BODY, JSON,
-- optional)
-- and the run ends with one parseable line:
--   RESULT <requests/s> <p50 ms> <p99 ms> <requests> <failed or non-2xx>
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
local body = os.getenv("BENCH_BODY")
if body ~= nil and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.0f %.2f %.2f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, e.connect + e.read + e.write + e.timeout + e.status))
end
