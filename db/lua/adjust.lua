-- Add a signed delta to on_hand of one sku at one location; idempotent by event id.
-- KEYS[1] stock hash   KEYS[2] event marker {prefix}:evt:{sku}:<event id>   KEYS[3] version   KEYS[4] display entry
-- ARGV[1] location id   ARGV[2] delta   ARGV[3] seconds to remember the event id
-- Returns {1, on_hand_after} | {1, 'replayed'} | {0, available} | {-1, 'not_loaded'}
local loc, delta = ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 1 then return {1, 'replayed'} end
if redis.call('HEXISTS', KEYS[1], '_loaded') == 0 then
  -- the caller loads the sku from Postgres, which counts this change already: a repeat is a replay
  redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[3]))
  return {-1, 'not_loaded'}
end
local on_hand = tonumber(redis.call('HGET', KEYS[1], loc .. '|on_hand') or '0')
local reserved = tonumber(redis.call('HGET', KEYS[1], loc .. '|reserved') or '0')
local allocated = tonumber(redis.call('HGET', KEYS[1], loc .. '|allocated') or '0')
if on_hand + delta < reserved + allocated then
  return {0, on_hand - reserved - allocated}
end
redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[3]))
redis.call('INCR', KEYS[3])
redis.call('DEL', KEYS[4])
return {1, redis.call('HINCRBY', KEYS[1], loc .. '|on_hand', delta)}
