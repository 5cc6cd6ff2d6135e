-- lookup.lua — wrk script: POST /get-online-features for N random entities of the
-- bench_online service (user_id in 1..USERS, merchant_id in 1..MERCHANTS), a new body per
-- request. Prints "wrk-result requests/s p50_us p99_us non2xx" for bench/online/run.sh.
local users = tonumber(os.getenv("USERS") or "1000")
local merchants = tonumber(os.getenv("MERCHANTS") or "100")
local n = tonumber(os.getenv("N") or "1")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  local u, m = {}, {}
  for i = 1, n do
    u[i] = tostring(math.random(1, users))
    m[i] = tostring(math.random(1, merchants))
  end
  local body = '{"feature_service":"bench_online","entities":{"user_id":[' .. table.concat(u, ",")
    .. '],"merchant_id":[' .. table.concat(m, ",") .. ']}}'
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read
            + summary.errors.write + summary.errors.timeout
  io.write(string.format("wrk-result %.1f %.1f %.1f %d\n", summary.requests / secs,
                         latency:percentile(50), latency:percentile(99), bad))
end
