-- Quota leases (escrow) for one (counter, period) pool. The maths and the order
-- of operations are those of core/engine/lease.ts (`leaseSlice`, `LeaseLedger`);
-- a test runs both on the same random inputs and compares every result. The
-- parameters come in as arguments from the TypeScript side: one source of truth.
--
-- Each command is this file followed by `return acquire()`, `return report()`,
-- `return release()` or `return probe_slice()`.
--
-- KEYS[1] pool hash {limit, consumed, outstanding}
-- KEYS[2] allowance hash {holder -> granted, not yet reported}
-- KEYS[3] expiry sorted set {holder -> expiresAt}
-- ARGV[1] holder, ARGV[2] now in ms ("" = the server clock), ARGV[3] lease TTL ms,
-- ARGV[4] PEXPIREAT for the three keys (0 = none), ARGV[5] units consumed since the last report,
-- then per command: acquire: limit, base, need, rate, minSlice, maxSlice, horizonMs; report: giveBack.
-- Numbers go back as "%.17g" text, which reads back as the same double.

local function fmt(x)
  return string.format('%.17g', x)
end

local function lease_slice(remainder, holders, rate, need, held, min_slice, max_slice, horizon_ms)
  if remainder <= 0 then return 0 end
  if need - remainder > 1e-9 then return 0 end
  local target = (rate * horizon_ms) / 1000
  if target < min_slice then target = min_slice end
  local room = max_slice - held
  if room < 0 then room = 0 end
  if target > room then target = room end
  local fair = remainder / (2 * holders)
  local slice
  if target < fair then slice = math.floor(target) else slice = math.floor(fair) end
  if slice < need then slice = need end
  if slice > remainder then slice = remainder end
  return slice
end

local pool, alw, exp = KEYS[1], KEYS[2], KEYS[3]
-- The arguments of the pool being worked on: ARGV, or one pool's share of a batch's ARGV.
local A = ARGV
local holder, now, ttl, expire_at, delta
local limit, consumed, outstanding, created

local function load()
  holder = A[1]
  if A[2] == '' then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  else
    now = tonumber(A[2])
  end
  ttl = tonumber(A[3])
  expire_at = tonumber(A[4])
  delta = tonumber(A[5])
  local p = redis.call('HMGET', pool, 'limit', 'consumed', 'outstanding')
  created = p[2] ~= false
  limit = tonumber(p[1] or '0')
  consumed = tonumber(p[2] or '0')
  outstanding = tonumber(p[3] or '0')
end

local function remainder()
  local r = limit - consumed - outstanding
  if r > 0 then return r end
  return 0
end

-- Float drift never leaves phantom allowance: no lease, nothing outstanding.
local function take(units)
  outstanding = outstanding - units
  if outstanding < 0 or redis.call('ZCARD', exp) == 0 then outstanding = 0 end
end

-- Expired leases (expiresAt <= now) give their unreported allowance back, in (expiresAt, holder) order.
local function reclaim()
  local expired = redis.call('ZRANGEBYSCORE', exp, '-inf', fmt(now))
  for _, h in ipairs(expired) do
    local a = tonumber(redis.call('HGET', alw, h) or '0')
    redis.call('ZREM', exp, h)
    redis.call('HDEL', alw, h)
    take(a)
  end
end

-- Returns whether the holder has a lease, and its allowance after the report.
local function apply_report()
  consumed = consumed + delta
  local a = redis.call('HGET', alw, holder)
  if a == false then return false, 0 end
  local held = tonumber(a)
  local used = held
  if delta < held then used = delta end
  held = held - used
  take(used)
  return true, held
end

local function keep(allowance)
  local expires = 0
  if allowance > 0 then
    expires = now + ttl
    redis.call('HSET', alw, holder, fmt(allowance))
    redis.call('ZADD', exp, fmt(expires), holder)
  else
    redis.call('HDEL', alw, holder)
    redis.call('ZREM', exp, holder)
    if redis.call('ZCARD', exp) == 0 then outstanding = 0 end
  end
  redis.call('HSET', pool, 'limit', fmt(limit), 'consumed', fmt(consumed), 'outstanding', fmt(outstanding))
  if expire_at > 0 then
    redis.call('PEXPIREAT', pool, fmt(expire_at))
    redis.call('PEXPIREAT', alw, fmt(expire_at))
    redis.call('PEXPIREAT', exp, fmt(expire_at))
  end
  return { fmt(allowance), fmt(remainder()), tostring(redis.call('ZCARD', exp)), fmt(expires) }
end

-- Reclaim expired leases, report, then grant a slice. Returns {granted, allowance, remainder, holders, expiresAt}.
local function acquire()
  load()
  if not created then consumed = tonumber(A[7]) end
  limit = tonumber(A[6])
  reclaim()
  local has, held = apply_report()
  local holders = redis.call('ZCARD', exp)
  if not has then holders = holders + 1 end
  local granted = lease_slice(remainder(), holders, tonumber(A[9]), tonumber(A[8]), held,
    tonumber(A[10]), tonumber(A[11]), tonumber(A[12]))
  outstanding = outstanding + granted
  local state = keep(held + granted)
  table.insert(state, 1, fmt(granted))
  return state
end

-- Reclaim expired leases, report, give back up to giveBack (A[6]; everything on release), renew.
-- Returns {returned, allowance, remainder, holders, expiresAt}; all zero when the pool is gone.
local function report(give_all)
  load()
  if not created then return { '0', '0', '0', '0', '0' } end
  reclaim()
  local _, held = apply_report()
  local returned = held
  if not give_all then
    local give = tonumber(A[6])
    if give < held then returned = give end
  end
  take(returned)
  local state = keep(held - returned)
  table.insert(state, 1, fmt(returned))
  return state
end

local function release()
  return report(true)
end

-- lease_slice on A[1..8], for the agreement test with leaseSlice.
local function probe_slice()
  local a = {}
  for i = 1, 8 do a[i] = tonumber(A[i]) end
  return fmt(lease_slice(a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]))
end

-- Many pools in one call: KEYS holds three keys per pool; ARGV[1] is the number of
-- arguments per pool, followed by each pool's arguments laid out as for a single call.
-- Returns one reply per pool, in order.
local function batch(entry)
  local per = tonumber(ARGV[1])
  local out = {}
  for i = 0, (#KEYS / 3) - 1 do
    pool, alw, exp = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
    A = {}
    for j = 1, per do A[j] = ARGV[1 + i * per + j] end
    out[i + 1] = entry()
  end
  return out
end
