-- Store a sku's display entry unless its levels changed since they were read for it.
-- KEYS[1] version {prefix}:ver:{sku}   KEYS[2] display entry {prefix}:avail:{sku}
-- ARGV[1] the version read with the levels   ARGV[2] the entry   ARGV[3] time to live, ms
-- Returns 1 when stored, 0 when a change came in between (the entry would be stale)
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', tonumber(ARGV[3]))
return 1
