-- Memory of the session store's key layouts, without authd: run against a
-- private, empty redis-server (never a shared one) and compare used_memory
-- before and after, e.g.
--
--   redis-server --port 6501 --save '' --daemonize yes
--   redis-cli -p 6501 info memory | grep ^used_memory:
--   redis-cli -p 6501 --eval docs/index-layout.lua , zset 100000 16
--   redis-cli -p 6501 info memory | grep ^used_memory:
--   redis-cli -p 6501 flushall sync   # before the next layout
--
-- ARGV[1]: none   records only (74-byte values, authd's key names)
--          zset   records and a sorted set per user (authd's layout)
--          bucket records and a hash of many users' indexes per bucket
--                 (ARGV[3] buckets per hash tag), the shared layout
--                 docs/capacity.md weighs
-- ARGV[2]: users, one session each.
local n = tonumber(ARGV[2])
local per = tonumber(ARGV[3])
local P = 'authd:session:'
local expiry = 4102444800000 -- 2100-01-01, so that nothing expires meanwhile
for i = 1, n do
  local uid = 1000000 + i
  local tag = string.format('%02x', i % 256)
  local id = string.sub(redis.sha1hex(tostring(i)), 1, 22)
  redis.call('SET', P .. '{' .. tag .. '}' .. id, string.rep('x', 74), 'PXAT', expiry)
  if ARGV[1] == 'zset' then
    local k = P .. '{' .. tag .. '}u:' .. uid
    redis.call('ZADD', k, 1800000000000000 + i, tag .. id)
    redis.call('PEXPIREAT', k, expiry)
  elseif ARGV[1] == 'bucket' then
    local k = P .. '{' .. tag .. '}i:' .. (math.floor(i / 256) % per)
    redis.call('HSET', k, uid, id .. struct.pack('>d', 1800000000000000 + i))
    redis.call('PEXPIREAT', k, expiry)
  end
end
return redis.call('DBSIZE')
