--[[
  Reads given users' values in one source (a send-time check): their records (the buckets) or
  their hot-count marks (the count buckets, docs/design.md, "Hot counts"), with since when the
  source's counts are complete and the ids of the asked index names.

  KEYS[1]   <ns>:{src}:m      meta hash (see dict.lua)
  ARGV[1]   bucket key prefix: <ns>:{src}:b: (records) or <ns>:{src}:n: (marks); the meta's
            generation and ':' follow it
  ARGV[2]   number of index names k
  ARGV[3..k+2]  index names
  ARGV[k+3..]   pairs: user hash (FNV-1a, 32 bits), user id

  Returns   {cs (hot counts complete since, epoch ms; -1: not complete from any time, a source
            of an earlier version or one a restore is still loading), id of each name (0:
            unknown), then each user's value (nil: none)}; an empty array when the source has
            no meta hash (nothing hot).
  One HGET per user in a listpack of at most a few hundred fields: bounded whatever the
  source's size.
]]
local state = redis.call('HMGET', KEYS[1], 'L', 'p', 'g', 'cs')
if not state[1] then
  return {}
end
local L = tonumber(state[1])
local p = tonumber(state[2])
local k = tonumber(ARGV[2])
local out = {tonumber(state[4] or -1)}
for a = 3, k + 2 do
  out[#out + 1] = tonumber(redis.call('HGET', KEYS[1], ARGV[a]) or 0)
end
local prefix = ARGV[1] .. state[3] .. ':'
local lo, hi = 2 ^ L, 2 ^ (L + 1)
for a = k + 3, #ARGV, 2 do
  local h = tonumber(ARGV[a])
  local b = h % lo
  if b < p then b = h % hi end
  out[#out + 1] = redis.call('HGET', prefix .. b, ARGV[a + 1])
end
return out
