-- lookup.lua — wrk script: POST /get-online-features for N random entities of the
-- bench_online service (user_id in 1..USERS, merchant_id in 1..MERCHANTS). Each wrk thread
-- builds 4096 random requests once, at start, and cycles through them, so that wrk spends no
-- more per request than on the bare server's plain GET (building a body per request in Lua
-- took CPU from the server on this 2-core machine). Prints
-- "wrk-result requests/s p50_us p99_us non2xx" for bench/online/run.sh.
local users = tonumber(os.getenv("USERS") or "1000")
local merchants = tonumber(os.getenv("MERCHANTS") or "100")
local n = tonumber(os.getenv("N") or "1")
local NREQ = 4096
local reqs, at = {}, 0

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
  local headers = {["Content-Type"] = "application/json"}
  for r = 1, NREQ do
    local u, m = {}, {}
    for i = 1, n do
      u[i] = tostring(math.random(1, users))
      m[i] = tostring(math.random(1, merchants))
    end
    local body = '{"feature_service":"bench_online","entities":{"user_id":[' .. table.concat(u, ",")
      .. '],"merchant_id":[' .. table.concat(m, ",") .. ']}}'
    reqs[r] = wrk.format("POST", nil, headers, body)
  end
end

function request()
  at = at % NREQ + 1
  return reqs[at]
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read
            + summary.errors.write + summary.errors.timeout
  io.write(string.format("wrk-result %.1f %.1f %.1f %d\n", summary.requests / secs,
                         latency:percentile(50), latency:percentile(99), bad))
end
