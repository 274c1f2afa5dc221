-- Load one sku's levels and live holds from Postgres unless another caller already did:
-- concurrent first uses must not wipe holds admitted in between.
-- KEYS[1] stock hash   KEYS[2..] hold keys of live reservations
-- ARGV[1] number of hash field/value pairs n, ARGV[2..2n+1] the pairs, then one value per hold key
-- Returns 1 when loaded now, 0 when it was loaded already
if redis.call('HEXISTS', KEYS[1], '_loaded') == 1 then return 0 end
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  redis.call('HSET', KEYS[1], ARGV[2 + 2 * i], ARGV[3 + 2 * i])
end
redis.call('HSET', KEYS[1], '_loaded', 1)
for k = 2, #KEYS do
  redis.call('SET', KEYS[k], ARGV[1 + 2 * n + k - 1])
end
return 1
