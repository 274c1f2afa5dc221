-- Shared by the flash-sale scripts (db/flashstore.py puts it in front of each): the sale's
-- token bucket, kept in its hash as rate (tokens per second), burst, tokens and ts (unix ms).
-- take_token(key) -> now in ms, the TIME reply, and 0; or nil, nil and the ms to wait.
local function take_token(key)
  local b = redis.call('HMGET', key, 'rate', 'burst', 'tokens', 'ts')
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local rate = tonumber(b[1])
  local tokens = math.min(tonumber(b[2]), tonumber(b[3]) + math.max(now - tonumber(b[4]), 0) * rate / 1000)
  if tokens < 1 then
    redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', now)
    return nil, nil, math.min(math.ceil((1 - tokens) * 1000 / rate), 86400000)
  end
  redis.call('HSET', key, 'tokens', tostring(tokens - 1), 'ts', now)
  return now, t, 0
end
