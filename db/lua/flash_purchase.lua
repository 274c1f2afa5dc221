-- Buy from a flash sale, atomically: rate limit, purchase window (lottery), per-user limit,
-- pools with fallback, and the units handed from the sale's hold to the buyer's own hold.
-- (take_token comes from token_bucket.lua, put in front of this script.)
-- KEYS[1] sale hash {prefix}:fs:{sku}:<sale>   KEYS[2] units bought per user
-- KEYS[3] purchase windows per user (lottery)   KEYS[4] answer of this idempotency key
-- KEYS[5] the sale's hold   KEYS[6] the buyer's hold (new)   KEYS[7] the sku's version (a reload
-- that read the sale's hold before this purchase must not write it back)
-- ARGV[1] user id   ARGV[2] quantity   ARGV[3] pool order, comma separated (home first)
-- ARGV[4] order id   ARGV[5] seconds to keep the answer
-- Returns {'won', order id, pools taken from "pool:units,...", units left}
--   | {'replayed', "order id|units|pools|user"}
--   | {'rate_limited', ms to wait} | {'limit', units the user may still buy} | {'sold_out'}
--   | {'no_window'} | {'closed', status} | {'unknown'}
local answer = redis.call('GET', KEYS[4])
if answer then return {'replayed', answer} end
local sale = redis.call('HMGET', KEYS[1], 'status', 'mode', 'limit')
if not sale[1] then return {'unknown'} end
if sale[1] ~= 'open' then
  local sold = tonumber(redis.call('HGET', KEYS[1], 'sold') or '0')
  if sale[1] == 'closed' and sold >= tonumber(redis.call('HGET', KEYS[1], 'held') or '0') then
    return {'sold_out'}  -- it ended because the last unit went
  end
  return {'closed', sale[1]}
end
local now, t, wait = take_token(KEYS[1])
if not now then return {'rate_limited', string.format('%d', wait)} end
local user, qty = ARGV[1], tonumber(ARGV[2])
if sale[2] == 'lottery' then
  local until_ms = redis.call('HGET', KEYS[3], user)
  if not until_ms or tonumber(until_ms) < now then return {'no_window'} end
end
local had = tonumber(redis.call('HGET', KEYS[2], user) or '0')
local limit = tonumber(sale[3])
if had + qty > limit then return {'limit', tostring(limit - had)} end
local held = redis.call('GET', KEYS[5])
local loc, units = nil, nil
if held then loc, units = string.match(held, '^([^|]*)|(%d+)|reserved') end
if not loc then return {'closed', 'no_hold'} end  -- checked before any write: a script stops half done otherwise
if tonumber(units) < qty then return {'sold_out'} end
local order = {}
for pool in string.gmatch(ARGV[3], '%d+') do order[#order + 1] = pool end
local left, total = {}, 0
for i, pool in ipairs(order) do
  left[i] = tonumber(redis.call('HGET', KEYS[1], 'pool:' .. pool) or '0')
  total = total + left[i]
end
if total < qty then return {'sold_out'} end
local need, taken = qty, {}
for i, pool in ipairs(order) do
  if need == 0 then break end
  local take = math.min(need, left[i])
  if take > 0 then
    redis.call('HINCRBY', KEYS[1], 'pool:' .. pool, -take)
    taken[#taken + 1] = pool .. ':' .. take
    need = need - take
  end
end
redis.call('HINCRBY', KEYS[2], user, qty)
redis.call('HINCRBY', KEYS[1], 'sold', qty)
-- the units stay reserved at the location: they only change hands, from the sale to the buyer
redis.call('SET', KEYS[5], loc .. '|' .. (tonumber(units) - qty) .. '|reserved')
redis.call('SET', KEYS[6], loc .. '|' .. qty .. '|reserved|' .. t[1])
redis.call('INCR', KEYS[7])
local pools = table.concat(taken, ',')
redis.call('SET', KEYS[4], ARGV[4] .. '|' .. qty .. '|' .. pools .. '|' .. user, 'EX', tonumber(ARGV[5]))
return {'won', ARGV[4], pools, tostring(total - qty)}
