-- Rewrite one sku's levels and holds from a Postgres snapshot, unless the sku changed in
-- Redis since the caller read its version: a hold admitted in between would otherwise be
-- wiped from `reserved` while its key stays, handing the same units out twice.
-- KEYS[1] stock hash   KEYS[2] version   KEYS[3] display entry
-- KEYS[4 .. 3+r] holds to mark released   KEYS[4+r ..] holds Postgres has
-- ARGV[1] version read before the snapshot ('' = none yet)   ARGV[2] seconds to keep a released hold
-- ARGV[3] number of hash field/value pairs n, then the pairs; then r; then r released values,
-- then one value per Postgres hold
-- Returns 1 when written, 0 when the sku changed meanwhile (read again and retry)
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[3])
local r = tonumber(ARGV[4 + 2 * n])
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('INCR', KEYS[2])
for i = 0, n - 1 do
  redis.call('HSET', KEYS[1], ARGV[4 + 2 * i], ARGV[5 + 2 * i])
end
redis.call('HSET', KEYS[1], '_loaded', 1)
for k = 1, r do
  redis.call('SET', KEYS[3 + k], ARGV[4 + 2 * n + k], 'EX', tonumber(ARGV[2]))
end
for k = 4 + r, #KEYS do
  redis.call('SET', KEYS[k], ARGV[4 + 2 * n + k - 3])
end
return 1
