-- Enter a lottery sale while its entry window is open; rate limited like purchases.
-- KEYS[1] sale hash   KEYS[2] entrants set   ARGV[1] user id
-- Returns {'entered'} | {'already'} | {'rate_limited', ms to wait} | {'closed', status} | {'unknown'}
local sale = redis.call('HMGET', KEYS[1], 'status', 'mode', 'rate', 'burst', 'tokens', 'ts')
if not sale[1] then return {'unknown'} end
if sale[1] ~= 'entering' then return {'closed', sale[1]} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, burst = tonumber(sale[3]), tonumber(sale[4])
local tokens = math.min(burst, tonumber(sale[5]) + (now - tonumber(sale[6])) * rate / 1000)
if tokens < 1 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
  return {'rate_limited', tostring(math.ceil((1 - tokens) * 1000 / rate))}
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'ts', now)
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return {'already'} end
return {'entered'}
