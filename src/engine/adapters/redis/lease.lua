-- Quota leases (escrow) for one (counter, period) pool. The maths and the order
-- of operations are those of core/engine/lease.ts (`leaseSlice`, `LeaseLedger`);
-- a test runs both on the same random inputs and compares every result. The
-- parameters come in as arguments from the TypeScript side: one source of truth.
--
-- Each command is this file followed by `return acquire()`, `return report()`,
-- `return release()` or `return probe_slice()`, or a `batch(...)` of one of them
-- (`acquire_sliding` and `report_sliding` for sliding windows, below).
--
-- KEYS[1] pool hash {limit, consumed, outstanding}
-- KEYS[2] allowance hash {holder -> granted, not yet reported}
-- KEYS[3] expiry sorted set {holder -> expiresAt}
-- ARGV[1] holder, ARGV[2] now in ms ("" = the server clock), ARGV[3] lease TTL ms,
-- ARGV[4] PEXPIREAT for the three keys (0 = none), ARGV[5] units consumed since the last report,
-- then per command: acquire: limit, base, need, rate, minSlice, maxSlice, horizonMs, spread; report: giveBack;
-- and last (A[#A - 1], A[#A]) the holder's refunds in this pool: their running total and the part
-- of it not acknowledged yet (see apply_refund).
-- Numbers go back as "%.17g" text, which reads back as the same double.

local function fmt(x)
  return string.format('%.17g', x)
end

local function lease_slice(remainder, holders, rate, need, held, min_slice, max_slice, horizon_ms, spread)
  if remainder <= 0 then return 0 end
  if need - remainder > 1e-9 then return 0 end
  local target = (rate * horizon_ms) / 1000
  local plenty = remainder / (spread * holders)
  if target < plenty then target = plenty end
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

-- Refunds (negative amounts) give allowance back: the holder sends the running total of the
-- units it refunded in this pool and the part of it whose reply it has not had (A[#A - 1],
-- A[#A]); the last total applied is kept per holder in the pool hash (field). What comes off
-- the usage is the unacknowledged part less what an earlier call already applied (its reply
-- lost), so a report sent again gives them back once, and a refund a call to a pool that did
-- not exist dropped (acknowledged) is not applied later. A pool created by this call starts
-- from a base that already nets them. `take_off(units)` applies them; returns nothing.
local function apply_refund(field, take_off)
  local total = tonumber(A[#A - 1])
  local pending = tonumber(A[#A])
  if total == nil or total <= 0 then return end
  local seen = tonumber(redis.call('HGET', pool, field) or '0')
  if total <= seen then return end
  redis.call('HSET', pool, field, fmt(total))
  local units = total - seen
  if pending < units then units = pending end
  if created and units > 0 then take_off(units) end
end

-- Returns whether the holder has a lease, and its allowance after the report.
local function apply_report()
  consumed = consumed + delta
  -- Never below zero: what the pool never counted is not given back.
  apply_refund('r|' .. holder, function(units)
    consumed = consumed - units
    if consumed < 0 then consumed = 0 end
  end)
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
    tonumber(A[10]), tonumber(A[11]), tonumber(A[12]), tonumber(A[13]))
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

-- Sliding windows ("at most limit in any window of W"): one pool per counter and window,
-- its usage and allowance kept by bucket of size b. Allowance granted for bucket k may only
-- be spent by calls dated in bucket k, and usage is reported into the bucket it was spent in.
-- A grant for bucket k leaves the window's buckets k - K .. k (K = ceil(W / b)) holding at
-- most limit, counting both what was consumed and what is granted and not yet reported.
-- Grants go to the newest bucket only (`hi`): a holder whose clock is behind gets nothing
-- for an older bucket, so no grant can land in a bucket that a later grant already summed.
--
-- KEYS[1] pool hash {limit, hi, c<k>: consumed in bucket k, o<k>: outstanding for bucket k}
-- KEYS[2] allowance hash {holder|k -> granted for bucket k, not yet reported}
-- KEYS[3] expiry sorted set {holder|k -> expiresAt}
-- ARGV[1] holder, ARGV[2] now ("" = the server clock), ARGV[3] TTL ms, ARGV[4] graceMs,
-- ARGV[5] consumed in bucket k since the last report, ARGV[6] k, ARGV[7] b (ms), ARGV[8] K,
-- then acquire: limit, base ("k:units,..." the pool starts from when it does not exist),
-- need, rate, minSlice, maxSlice, horizonMs, spread; report: giveBack.
local bucket, size, back, grace, hi, member

local function s_load()
  holder = A[1]
  if A[2] == '' then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  else
    now = tonumber(A[2])
  end
  ttl = tonumber(A[3])
  grace = tonumber(A[4])
  delta = tonumber(A[5])
  bucket = tonumber(A[6])
  size = tonumber(A[7])
  back = tonumber(A[8])
  member = holder .. '|' .. A[6]
  local p = redis.call('HMGET', pool, 'limit', 'hi')
  created = p[1] ~= false
  limit = tonumber(p[1] or '0')
  hi = tonumber(p[2] or A[6])
end

-- Add x to a bucket's field (c or o); a field at zero is dropped.
local function s_add(kind, k, x)
  local f = kind .. k
  local v = tonumber(redis.call('HGET', pool, f) or '0') + x
  if v > 1e-9 then redis.call('HSET', pool, f, fmt(v)) else redis.call('HDEL', pool, f) end
end

-- Allowance of bucket k back from a holder (float drift never leaves it negative).
local function s_take(k, units)
  if units > 0 then s_add('o', k, -units) end
end

local function s_bucket_of(m)
  return tonumber(string.match(m, '|(-?%d+)$'))
end

local function s_reclaim()
  local expired = redis.call('ZRANGEBYSCORE', exp, '-inf', fmt(now))
  for _, m in ipairs(expired) do
    local a = tonumber(redis.call('HGET', alw, m) or '0')
    redis.call('ZREM', exp, m)
    redis.call('HDEL', alw, m)
    local k = s_bucket_of(m)
    if k ~= nil then s_take(k, a) end
  end
end

-- The report of `delta` units consumed in this call's bucket; whether the holder has a
-- lease in it, and its allowance after the report.
local function s_report()
  if delta > 0 then s_add('c', bucket, delta) end
  -- A refund comes off the usage of the bucket it was made in (s_add drops a field at zero).
  apply_refund('r|' .. member, function(units) s_add('c', bucket, -units) end)
  local a = redis.call('HGET', alw, member)
  if a == false then return false, 0 end
  local held = tonumber(a)
  local used = held
  if delta < held then used = delta end
  s_take(bucket, used)
  return true, held - used
end

-- What the window ending in this call's bucket holds: consumed and outstanding in
-- buckets >= bucket - K. Buckets that left every window are dropped on the way.
local function s_window()
  local lo = bucket - back
  local sum = 0
  local all = redis.call('HGETALL', pool)
  for i = 1, #all, 2 do
    local f = all[i]
    local kind = string.sub(f, 1, 1)
    if kind == 'c' or kind == 'o' then
      local k = tonumber(string.sub(f, 2))
      if k < hi - back then redis.call('HDEL', pool, f)
      elseif k >= lo then sum = sum + tonumber(all[i + 1]) end
    elseif kind == 'r' then
      -- A refund total of a bucket that left every window: nothing can come off it any more.
      local k = s_bucket_of(f)
      if k ~= nil and k < hi - back then redis.call('HDEL', pool, f) end
    end
  end
  return sum
end

local function s_remainder()
  if bucket < hi then return 0 end
  local r = limit - s_window()
  if r > 0 then return r end
  return 0
end

local function s_keep(allowance, remainder)
  local expires = 0
  if allowance > 0 then
    expires = now + ttl
    redis.call('HSET', alw, member, fmt(allowance))
    redis.call('ZADD', exp, fmt(expires), member)
  else
    redis.call('HDEL', alw, member)
    redis.call('ZREM', exp, member)
  end
  local holders = redis.call('ZCARD', exp)
  if holders == 0 then
    -- No lease left: nothing is outstanding (float residue included).
    for _, f in ipairs(redis.call('HKEYS', pool)) do
      if string.sub(f, 1, 1) == 'o' then redis.call('HDEL', pool, f) end
    end
  end
  redis.call('HSET', pool, 'limit', fmt(limit), 'hi', fmt(hi))
  -- Every key outlives the newest bucket's last window (and the leases in it) by the grace.
  local at = (hi + 1 + back) * size + grace
  if at < now + ttl then at = now + ttl end
  redis.call('PEXPIREAT', pool, fmt(at))
  redis.call('PEXPIREAT', alw, fmt(at))
  redis.call('PEXPIREAT', exp, fmt(at))
  return { fmt(allowance), fmt(remainder), tostring(holders), fmt(expires) }
end

-- Reclaim expired leases, report, then grant a slice of the window's remainder for this
-- call's bucket. Returns {granted, allowance, remainder, holders, expiresAt}.
local function acquire_sliding()
  s_load()
  if not created then
    for k, v in string.gmatch(A[10], '(-?%d+):([^,]+)') do
      local kb, units = tonumber(k), tonumber(v)
      if kb >= bucket - back and units > 0 then s_add('c', kb, units) end
    end
  end
  limit = tonumber(A[9])
  s_reclaim()
  local has, held = s_report()
  if bucket > hi then hi = bucket end
  local granted = 0
  local remainder = s_remainder()
  if bucket >= hi then
    local holders = redis.call('ZCARD', exp)
    if not has then holders = holders + 1 end
    granted = lease_slice(remainder, holders, tonumber(A[12]), tonumber(A[11]), held,
      tonumber(A[13]), tonumber(A[14]), tonumber(A[15]), tonumber(A[16]))
    if granted > 0 then s_add('o', bucket, granted) end
    remainder = remainder - granted
    if remainder < 0 then remainder = 0 end
  end
  local state = s_keep(held + granted, remainder)
  table.insert(state, 1, fmt(granted))
  return state
end

-- Reclaim, report, give back up to giveBack (A[9]; everything on release), renew.
-- Returns {returned, allowance, remainder, holders, expiresAt}; all zero when the pool is gone.
local function report_sliding(give_all)
  s_load()
  if not created then return { '0', '0', '0', '0', '0' } end
  s_reclaim()
  local _, held = s_report()
  local returned = held
  if not give_all then
    local give = tonumber(A[9])
    if give < held then returned = give end
  end
  s_take(bucket, returned)
  local state = s_keep(held - returned, s_remainder())
  table.insert(state, 1, fmt(returned))
  return state
end

-- lease_slice on A[1..9], for the agreement test with leaseSlice.
local function probe_slice()
  local a = {}
  for i = 1, 9 do a[i] = tonumber(A[i]) end
  return fmt(lease_slice(a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]))
end

-- A pool's arguments in a batch: one string, the fields joined by the unit separator (\31).
local function fields(s)
  local t, n, from = {}, 0, 1
  while true do
    local at = string.find(s, '\31', from, true)
    n = n + 1
    if not at then
      t[n] = string.sub(s, from)
      return t
    end
    t[n] = string.sub(s, from, at - 1)
    from = at + 1
  end
end

-- Many pools in one call: KEYS holds three keys per pool, ARGV one string per pool with
-- its arguments laid out as for a single call, joined by \31 (one argument per pool to
-- encode and parse instead of a dozen). Returns one reply per pool, in order, as one
-- string: a pool's reply joined by ',' and the pools by ';' (one string to read instead
-- of five per pool).
local function batch(entry)
  local out = {}
  for i = 0, (#KEYS / 3) - 1 do
    pool, alw, exp = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
    A = fields(ARGV[i + 1])
    out[i + 1] = table.concat(entry(), ',')
  end
  return table.concat(out, ';')
end
