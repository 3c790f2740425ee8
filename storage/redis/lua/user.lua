--[[
  One user's records in one source, with the names of their index ids: what
  GET /v1/users/:id/interactions shows. One bounded call whatever the source's size.

  KEYS[1]   <ns>:{src}:m      meta hash (see dict.lua)
  ARGV[1]   bucket key prefix, <ns>:{src}:b: (the meta's generation and ':' follow it)
  ARGV[2]   user hash (FNV-1a, 32 bits)
  ARGV[3]   user id

  Returns   {} when the user has no event in the source, else {value, name of each record's
            index id, in the value's order}.
]]
local state = redis.call('HMGET', KEYS[1], 'L', 'p', 'g')
if not state[1] then
  return {}
end
local L, p = tonumber(state[1]), tonumber(state[2])
local h = tonumber(ARGV[2])
local b = h % 2 ^ L
if b < p then b = h % 2 ^ (L + 1) end
local value = redis.call('HGET', ARGV[1] .. state[3] .. ':' .. b, ARGV[3])
if not value then
  return {}
end
local out = {value}
local i = 1
while i <= #value do
  local c = string.byte(value, i)
  local id
  if c < 128 then
    id = c
    i = i + 1
  else
    id = (c - 128) * 256 + string.byte(value, i + 1)
    i = i + 2
  end
  out[#out + 1] = redis.call('HGET', KEYS[1], '#' .. id) or ''
  i = i + 6
end
return out
