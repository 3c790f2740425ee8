--[[
  One step of a count over one source (no ids): the values of whole buckets from the one
  holding ARGV[2] on, until ARGV[4] users are read or ARGV[3] is reached, packed in one string
  so the reply is one bulk string, not two per user. Positions as in reads.ts segment: a
  bucket holds one contiguous range of them.

  KEYS[1]   <ns>:{src}:m      meta hash (see dict.lua)
  ARGV[1]   bucket key prefix, <ns>:{src}:b: (the meta's generation and ':' follow it)
  ARGV[2]   first position, the start of a bucket's range (0 .. 2^32 - 1)
  ARGV[3]   end position, exclusive (at most 2^32)
  ARGV[4]   users after which no further bucket is read
  ARGV[5]   number of index names k
  ARGV[6..k+5]  index names

  Returns   {end, id of each name (0: unknown), packed}: `packed` is each user's value preceded
            by its length (1 byte below 128, else 2 bytes: 0x80 | len >> 8, len & 0xff); `end`
            the position up to which every user was read. With no meta hash: {ARGV[3]}. {-1}
            when the first bucket reaches outside [ARGV[2], ARGV[3]) (a small source's bucket
            spans the bounds of a count's quarter): the caller reads that step with ids and
            keeps the users inside.
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

local char = string.char
local packed = {}
local pos = tonumber(ARGV[2])
local most = tonumber(ARGV[4])
local read = 0
local first = true
while pos < to and read < most do
  local level = L
  local top = math.floor(pos / 2 ^ (32 - level))
  local b = rev(top, level)
  if b < p then
    level = L + 1
    top = math.floor(pos / 2 ^ (32 - level))
    b = rev(top, level)
  end
  -- Only whole buckets within [ARGV[2], ARGV[3]) are counted here.
  local after = (top + 1) * 2 ^ (32 - level)
  if top * 2 ^ (32 - level) < pos or after > to then
    if first then return {-1} end
    break
  end
  first = false
  local values = redis.call('HVALS', prefix .. b)
  for i = 1, #values do
    local v = values[i]
    local n = #v
    if n < 128 then
      packed[#packed + 1] = char(n)
    else
      packed[#packed + 1] = char(128 + math.floor(n / 256), n % 256)
    end
    packed[#packed + 1] = v
  end
  read = read + #values
  pos = after
end
out[1] = pos
out[#out + 1] = table.concat(packed)
return out
