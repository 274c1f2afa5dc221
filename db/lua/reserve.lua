-- Hold qty units of one sku at one location, atomically; idempotent by reservation id.
-- KEYS[1] stock hash {prefix}:stock:{sku}   KEYS[2] hold {prefix}:hold:{sku}:<reservation id>
-- KEYS[3] version {prefix}:ver:{sku}   KEYS[4] display entry {prefix}:avail:{sku} (a change bumps one, drops the other)
-- The hold is "<location>|<qty>|reserved|<admitted at, unix s>": the time finds orphans.
-- ARGV[1] location id   ARGV[2] quantity
-- Returns {1, available_after} | {1, 'replayed'} | {0, available} | {-1, 'not_loaded'} | {-2, 'conflict'}
local loc, qty = ARGV[1], tonumber(ARGV[2])
local held = redis.call('GET', KEYS[2])
if held then
  if string.sub(held, 1, #loc + #ARGV[2] + 2) == loc .. '|' .. ARGV[2] .. '|' then
    return {1, 'replayed'}
  end
  return {-2, 'conflict'}
end
if redis.call('HEXISTS', KEYS[1], '_loaded') == 0 then
  return {-1, 'not_loaded'}
end
local on_hand = tonumber(redis.call('HGET', KEYS[1], loc .. '|on_hand') or '0')
local reserved = tonumber(redis.call('HGET', KEYS[1], loc .. '|reserved') or '0')
local allocated = tonumber(redis.call('HGET', KEYS[1], loc .. '|allocated') or '0')
local available = on_hand - reserved - allocated
if available < qty then
  return {0, available}
end
redis.call('HINCRBY', KEYS[1], loc .. '|reserved', qty)
redis.call('INCR', KEYS[3])
redis.call('DEL', KEYS[4])
redis.call('SET', KEYS[2], loc .. '|' .. qty .. '|reserved|' .. redis.call('TIME')[1])
return {1, available - qty}
