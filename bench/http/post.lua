-- post.lua — wrk script: POSTs one JSON body to the URL given to wrk.
-- The body is read from the file named by the environment variable BODY_FILE.
-- Prints the latency percentiles on one line for bench/http/run.sh to read:
--   "wrk-result requests/s p50_us p99_us non2xx"
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read
            + summary.errors.write + summary.errors.timeout
  io.write(string.format("wrk-result %.1f %.1f %.1f %d\n", summary.requests / secs,
                         latency:percentile(50), latency:percentile(99), bad))
end
