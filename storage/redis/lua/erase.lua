--[[
  Removes one user from a source (an erasure): the user's field in its bucket, and one from the
  source's user count.

  KEYS[1]   <ns>:{src}:m      meta hash (see dict.lua)
  ARGV[1]   bucket key prefix, <ns>:{src}:b: (the meta's generation and ':' follow it)
  ARGV[2]   user hash (FNV-1a, 32 bits)
  ARGV[3]   user id
  ARGV[4]   count bucket key prefix, <ns>:{src}:n: (the user's hot-count marks go too)

  Returns   the entries removed: the user's `any` and each of its records (0 when absent).
]]
local state = redis.call('HMGET', KEYS[1], 'L', 'p', 'g')
if not state[1] then
  return 0
end
local L, p = tonumber(state[1]), tonumber(state[2])
local h = tonumber(ARGV[2])
local b = h % 2 ^ L
if b < p then b = h % 2 ^ (L + 1) end
redis.call('HDEL', ARGV[4] .. state[3] .. ':' .. b, ARGV[3])
local key = ARGV[1] .. state[3] .. ':' .. b
local value = redis.call('HGET', key, ARGV[3])
if not value then
  return 0
end
redis.call('HDEL', key, ARGV[3])
redis.call('HINCRBY', KEYS[1], 'n', -1)
local entries, i = 1, 1
while i <= #value do
  if string.byte(value, i) < 128 then i = i + 7 else i = i + 8 end
  entries = entries + 1
end
return entries
