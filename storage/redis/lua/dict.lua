--[[
  Resolves index names (e:open, v:<variant>:click, s:<step>:send, ...) to a source's index ids,
  adding the names it does not know yet. Creates the source's meta hash (with a generation, the
  linear-hashing state and the user count) when it does not exist, and then removes what the
  layout before this one left of the source.

  KEYS[1]   <ns>:{src}:m      meta hash: g (generation), L (level), p (split pointer), n (users),
                              i (last index id), cs (hot counts complete since, epoch ms),
                              <name> -> id, #<id> -> name
  KEYS[2]   <ns>:{src}:keys   the previous layout's list of index keys (see keys.ts)
  KEYS[3]   <ns>:{src}:tier   tier gate (see write.lua)
  ARGV[1]   a fresh generation token, used only when the meta hash is created
  ARGV[2]   most index ids the source may hold
  ARGV[3]   "apply": nothing is created while the tier gate is closed; "load": no gate check
  ARGV[4..] index names

  Returns   {generation, id for ARGV[4], id for ARGV[5], ...}; an id is 0 when the source holds
            ARGV[2] ids already (the name is not added). {""} when ARGV[3] is "apply" and the
            gate is closed: a demoting or expired source gets no key.
  The generation changes whenever the meta hash is created anew (after a demotion or a Redis
  loss), so a writer holding ids of a dropped dictionary is told to resolve them again, and it
  is part of every bucket's name: buckets of a meta that is gone (a namespace half removed, key
  by key) are never read or written with a meta made since.
]]
local meta = KEYS[1]
local tier = false
if ARGV[3] == 'apply' then
  tier = redis.call('GET', KEYS[3])
  if tier == 'demoting' or tier == 'expired' then
    return {''}
  end
end
local gen = redis.call('HGET', meta, 'g')
if not gen then
  gen = ARGV[1]
  redis.call('HSET', meta, 'g', gen, 'L', 0, 'p', 0, 'n', 0, 'i', 0)
  -- Ingest creating a hot source (no gate: not restoring) starts it: its hot counts hold every
  -- event from the first on (cs, counts complete since; a restore or rebuild sets it once it
  -- has loaded the marks; a meta without cs counts from history).
  if ARGV[3] == 'apply' and not tier then
    redis.call('HSETNX', meta, 'cs', 0)
  end
  -- An upgrade: the sorted sets of the previous layout go (UNLINK frees them in the background).
  local old = redis.call('SMEMBERS', KEYS[2])
  for i = 1, #old, 500 do
    redis.call('UNLINK', unpack(old, i, math.min(i + 499, #old)))
  end
  redis.call('UNLINK', KEYS[2])
end
local limit = tonumber(ARGV[2])
local out = {gen}
for a = 4, #ARGV do
  local name = ARGV[a]
  local id = redis.call('HGET', meta, name)
  if not id then
    local last = tonumber(redis.call('HGET', meta, 'i'))
    if last >= limit then
      id = 0
    else
      id = last + 1
      redis.call('HSET', meta, 'i', id, name, id, '#' .. id, name)
    end
  end
  out[#out + 1] = tonumber(id)
end
return out
