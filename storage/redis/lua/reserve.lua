--[[
  Sizes an empty source for the users a restore or rebuild is about to load, so the load does
  not split buckets one by one: the level is raised while the source holds no user.

  KEYS[1]   <ns>:{src}:m      meta hash (see dict.lua; created there first)
  ARGV[1]   the level wanted (buckets: 2^level)

  Returns   the level now in force.
]]
local state = redis.call('HMGET', KEYS[1], 'L', 'p', 'n')
if not state[1] then
  return -1
end
local L = tonumber(state[1])
local want = tonumber(ARGV[1])
if tonumber(state[3]) == 0 and want > L then
  redis.call('HSET', KEYS[1], 'L', want, 'p', 0)
  return want
end
return L
