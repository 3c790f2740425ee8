--[[
  One step of a walk over a source's users in position order (a user's position is its hash
  with the bits reversed, so bucket b of level k holds exactly the positions whose top k bits
  are b reversed: one contiguous range). Reads whole buckets from the one holding ARGV[2] on,
  until ARGV[4] users are read or ARGV[3] is reached.

  KEYS[1]   <ns>:{src}:m      meta hash (see dict.lua)
  ARGV[1]   bucket key prefix, <ns>:{src}:b: (the meta's generation and ':' follow it)
  ARGV[2]   first position (0 .. 2^32 - 1)
  ARGV[3]   end position, exclusive (at most 2^32)
  ARGV[4]   users after which no further bucket is read
  ARGV[5]   number of index names k
  ARGV[6..k+5]  index names

  Returns   {end, id of each name (0: unknown), then user, value, user, value, ...}: every user
            of the buckets read (some may lie before ARGV[2] when it falls inside a bucket), and
            `end`, the position up to which every user was returned (2^32 when the walk is over;
            ARGV[3] at most). With no meta hash: {ARGV[3]} and nothing else.
  Buckets only split, never merge, so a range read whole stays read whole whatever splits
  come between steps.
]]
local state = redis.call('HMGET', KEYS[1], 'L', 'p', 'g')
local to = tonumber(ARGV[3])
if not state[1] then
  return {to}
end
local L = tonumber(state[1])
local p = tonumber(state[2])
local prefix = ARGV[1] .. state[3] .. ':'
local k = tonumber(ARGV[5])
local out = {0}
for a = 6, k + 5 do
  out[#out + 1] = tonumber(redis.call('HGET', KEYS[1], ARGV[a]) or 0)
end

-- The `bits` low bits of x, reversed.
local function rev(x, bits)
  local r = 0
  for _ = 1, bits do
    r = r * 2 + x % 2
    x = (x - x % 2) / 2
  end
  return r
end

local pos = tonumber(ARGV[2])
local most = tonumber(ARGV[4])
local read = 0
while pos < to and read < most do
  local level = L
  local top = math.floor(pos / 2 ^ (32 - level))
  local b = rev(top, level)
  if b < p then
    level = L + 1
    top = math.floor(pos / 2 ^ (32 - level))
    b = rev(top, level)
  end
  local flat = redis.call('HGETALL', prefix .. b)
  for i = 1, #flat do out[#out + 1] = flat[i] end
  read = read + #flat / 2
  pos = (top + 1) * 2 ^ (32 - level)
end
if pos > to then pos = to end
out[1] = pos
return out
