-- Enter a lottery sale while its entry window is open; rate limited like purchases
-- (take_token comes from token_bucket.lua, put in front of this script).
-- KEYS[1] sale hash   KEYS[2] entrants set   ARGV[1] user id
-- Returns {'entered'} | {'already'} | {'rate_limited', ms to wait} | {'closed', status} | {'unknown'}
local sale = redis.call('HMGET', KEYS[1], 'status')
if not sale[1] then return {'unknown'} end
if sale[1] ~= 'entering' then return {'closed', sale[1]} end
local now, _, wait = take_token(KEYS[1])
if not now then return {'rate_limited', string.format('%d', wait)} end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return {'already'} end
return {'entered'}
