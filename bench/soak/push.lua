-- push.lua — wrk script: POST /push of N random rows of transactions_live (rows like the
-- generator's: user_id in 1..USERS, merchant_id in 1..MERCHANTS, event times in the half hour
-- before TESSERA_NOW of bench/online/lib.sh), a new body per request, txn_ids unique per
-- wrk thread. Prints "wrk-result requests/s p50_us p99_us non2xx".
local users = tonumber(os.getenv("USERS") or "1000")
local merchants = tonumber(os.getenv("MERCHANTS") or "100")
local n = tonumber(os.getenv("N") or "10")
local base = tonumber(os.getenv("TXN_BASE") or "2000000000")
local channels = {"web", "app", "pos"}
local threads = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

local next_txn
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
  next_txn = base + id * 1000000000
end

function request()
  local t, u, m, a, ch, intl, ts = {}, {}, {}, {}, {}, {}, {}
  for i = 1, n do
    next_txn = next_txn + 1
    t[i] = tostring(next_txn)
    u[i] = tostring(math.random(1, users))
    m[i] = tostring(math.random(1, merchants))
    a[i] = string.format("%.2f", math.random() * 499 + 1)
    ch[i] = '"' .. channels[math.random(1, 3)] .. '"'
    intl[i] = math.random() < 0.1 and "true" or "false"
    ts[i] = string.format('"2026-01-31T00:%02d:%02dZ"', math.random(0, 29), math.random(0, 59))
  end
  local tsl = table.concat(ts, ",")
  local body = '{"push_source_name":"transactions_live","to":"online_and_offline","df":{'
    .. '"txn_id":[' .. table.concat(t, ",") .. '],"user_id":[' .. table.concat(u, ",")
    .. '],"merchant_id":[' .. table.concat(m, ",") .. '],"amount":[' .. table.concat(a, ",")
    .. '],"currency":[' .. string.rep('"USD"', n, ",") .. '],"channel":[' .. table.concat(ch, ",")
    .. '],"is_international":[' .. table.concat(intl, ",") .. '],"ts":[' .. tsl
    .. '],"created_at":[' .. tsl .. ']}}'
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read
            + summary.errors.write + summary.errors.timeout
  io.write(string.format("wrk-result %.1f %.1f %.1f %d\n", summary.requests / secs,
                         latency:percentile(50), latency:percentile(99), bad))
end
