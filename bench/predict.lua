-- wrk script: POST /v1/predict with a JSON body and a Bearer token read from files.
-- Usage: wrk -s bench/predict.lua http://127.0.0.1:PORT/v1/predict -- BODY_FILE TOKEN_FILE
-- Prints one line "BENCH_RESULT {json}" at the end, which bench/wrk.py parses.

local function slurp(path)
  local fh = assert(io.open(path, "rb"))
  local text = fh:read("*a")
  fh:close()
  return (text:gsub("%s+$", ""))
end

function init(args)
  wrk.method = "POST"
  wrk.body = slurp(args[1])
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. slurp(args[2])
end

-- The token and body are read once per thread; every request is the same (static request).

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
