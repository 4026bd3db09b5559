-- wrk script for the benchmark: optional random /products/{id} paths, and a
-- machine-readable summary printed after wrk's own report.
-- Usage: [BENCH_MAX_PRODUCT_ID=1000] wrk ... -s bench/report.lua URL

-- Read at load time: without it no request() exists and wrk sends its one
-- pre-built request, which is cheaper than calling Lua for every request.
local max_id = tonumber(os.getenv("BENCH_MAX_PRODUCT_ID") or "0") or 0

if max_id > 0 then
  -- Every run draws the same sequence of ids, so runs compare like with like.
  math.randomseed(20211125)
  request = function()
    return wrk.format("GET", "/products/" .. math.random(1, max_id))
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us": %d, "requests": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
