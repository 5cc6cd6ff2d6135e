-- get.lua — wrk script for GET URLs: prints the same one-line summary as post.lua.
function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read
            + summary.errors.write + summary.errors.timeout
  io.write(string.format("wrk-result %.1f %.1f %.1f %d\n", summary.requests / secs,
                         latency:percentile(50), latency:percentile(99), bad))
end
