-- Move a hold between states and its units between buckets; idempotent by hold state.
-- KEYS[1] stock hash   KEYS[2] hold key   KEYS[3] version   KEYS[4] display entry
-- ARGV[1] from state   ARGV[2] to state ('' = forget the hold: rollback of a reserve)
-- ARGV[3] bucket to take the units from ('' = none)   ARGV[4] bucket to put them in ('' = none)
-- ARGV[5] also take the units from on_hand ('1' for pick)   ARGV[6] seconds to keep an ended hold
-- Returns {1, 'done'} | {1, 'replayed'} | {0, current state} | {0, 'unknown'}
local held = redis.call('GET', KEYS[2])
if not held then
  if ARGV[2] == '' then return {1, 'replayed'} end
  return {0, 'unknown'}
end
local loc, qty, state = string.match(held, '^([^|]*)|(%d+)|(%a+)')
if state == ARGV[2] then return {1, 'replayed'} end
if state ~= ARGV[1] then return {0, state} end
qty = tonumber(qty)
if qty > 0 then  -- a flash sale's hold can be down to 0 (and Lua would send '-0', which Redis refuses)
  if ARGV[3] ~= '' then redis.call('HINCRBY', KEYS[1], loc .. '|' .. ARGV[3], -qty) end
  if ARGV[4] ~= '' then redis.call('HINCRBY', KEYS[1], loc .. '|' .. ARGV[4], qty) end
  if ARGV[5] == '1' then redis.call('HINCRBY', KEYS[1], loc .. '|on_hand', -qty) end
end
redis.call('INCR', KEYS[3])
redis.call('DEL', KEYS[4])
if ARGV[2] == '' then
  redis.call('DEL', KEYS[2])
elseif ARGV[2] == 'reserved' or ARGV[2] == 'confirmed' then
  redis.call('SET', KEYS[2], loc .. '|' .. qty .. '|' .. ARGV[2])
else
  redis.call('SET', KEYS[2], loc .. '|' .. qty .. '|' .. ARGV[2], 'EX', tonumber(ARGV[6]))
end
return {1, 'done'}
