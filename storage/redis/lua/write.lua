--[[
  Merges users' records into a source's buckets with max (the fold's law: any order, any
  duplication and any replay give one state), unless the source's tier gate is closed, then
  splits buckets while the source holds more users than its buckets should (linear hashing).

  KEYS[1]   <ns>:{src}:tier   tier gate: absent, "hot" or "restoring" means writable;
                              "demoting" or "expired" means skip (history only)
  KEYS[2]   <ns>:{src}:m      meta hash (see dict.lua)
  ARGV[1]   "apply": check the gate; "load": do not (a restore or rebuild owns the source)
  ARGV[2]   the generation the writer's index ids belong to
  ARGV[3]   bucket key prefix, <ns>:{src}:b: (bucket n of generation g is the prefix, g, ':' and n)
  ARGV[4]   users per bucket, on average, past which a bucket is split
  ARGV[5]   most splits this call may do
  ARGV[6]   count bucket key prefix, <ns>:{src}:n: (hot counts: the same buckets' numbers)
  ARGV[7]   the hot counts' cutoff, epoch ms: marks older than it are dropped from the values
            written (the horizon; docs/design.md, "Hot counts")
  ARGV[8..] quadruples: user hash (FNV-1a, 32 bits), user id, value (records sorted by index
            id: id in 1 or 2 bytes, time in 6 bytes big-endian; see layout.ts; empty: none,
            the call loads marks only), marks (16-byte marks: type, variant and step index ids
            in 2 bytes each, time in 6, event id hash in 4; see layout.ts; empty: none)

  Returns   1 applied, 0 skipped (tier gate closed), -1 the meta's generation is not ARGV[2]
            (the dictionary was dropped or made anew: resolve ids with dict.lua and write again).
  Buckets split here are rewritten whole, so a bucket that grew past the listpack limits goes
  back to a listpack when it splits.
]]
if ARGV[1] == 'apply' then
  local tier = redis.call('GET', KEYS[1])
  if tier == 'demoting' or tier == 'expired' then
    return 0
  end
end
local meta = KEYS[2]
local state = redis.call('HMGET', meta, 'g', 'L', 'p', 'n')
if state[1] ~= ARGV[2] then
  return -1
end
local L = tonumber(state[2])
local p = tonumber(state[3])
local n = tonumber(state[4])
local prefix = ARGV[3] .. ARGV[2] .. ':'
local cprefix = ARGV[6] .. ARGV[2] .. ':'
local cutoff = tonumber(ARGV[7])
local byte = string.byte
local sub = string.sub

-- A record at s[i]: its id and the index past its id; its time is the next 6 bytes.
local function record(s, i)
  local c = byte(s, i)
  if c < 128 then return c, i + 1 end
  return (c - 128) * 256 + byte(s, i + 1), i + 2
end

local function time(s, i)
  local b1, b2, b3, b4, b5, b6 = byte(s, i, i + 5)
  return ((((b1 * 256 + b2) * 256 + b3) * 256 + b4) * 256 + b5) * 256 + b6
end

-- Max-merge of two values (records sorted by id); nil when `new` changes nothing of `old`.
local function merge(old, new)
  local out = {}
  local changed = false
  local i, j = 1, 1
  local no, nn = #old, #new
  while i <= no and j <= nn do
    local ia, ta = record(old, i)
    local ib, tb = record(new, j)
    if ia < ib then
      out[#out + 1] = sub(old, i, ta + 5)
      i = ta + 6
    elseif ib < ia then
      out[#out + 1] = sub(new, j, tb + 5)
      j = tb + 6
      changed = true
    else
      if time(new, tb) > time(old, ta) then
        out[#out + 1] = sub(new, j, tb + 5)
        changed = true
      else
        out[#out + 1] = sub(old, i, ta + 5)
      end
      i = ta + 6
      j = tb + 6
    end
  end
  if i <= no then out[#out + 1] = sub(old, i) end
  if j <= nn then
    out[#out + 1] = sub(new, j)
    changed = true
  end
  if not changed then return nil end
  return table.concat(out)
end

-- Set union of two mark strings (16 bytes a mark, in no order), less marks older than the
-- cutoff; nil when nothing changes. A replayed or duplicated event is the same 16 bytes.
local function mergeMarks(old, new)
  local seen = {}
  local out = {}
  local changed = false
  for i = 1, #old, 16 do
    local m = sub(old, i, i + 15)
    if time(m, 7) >= cutoff then
      seen[m] = true
      out[#out + 1] = m
    else
      changed = true
    end
  end
  for i = 1, #new, 16 do
    local m = sub(new, i, i + 15)
    if not seen[m] and time(m, 7) >= cutoff then
      seen[m] = true
      out[#out + 1] = m
      changed = true
    end
  end
  if not changed then return nil end
  return table.concat(out)
end

local function bucket(h)
  local b = h % 2 ^ L
  if b < p then b = h % 2 ^ (L + 1) end
  return b
end

for a = 8, #ARGV, 4 do
  local b = bucket(tonumber(ARGV[a]))
  local user = ARGV[a + 1]
  local value = ARGV[a + 2]
  if value ~= '' then
    local key = prefix .. b
    local old = redis.call('HGET', key, user)
    if not old then
      redis.call('HSET', key, user, value)
      n = n + 1
    else
      local merged = merge(old, value)
      if merged then redis.call('HSET', key, user, merged) end
    end
  end
  if ARGV[a + 3] ~= '' then
    local key = cprefix .. b
    local merged = mergeMarks(redis.call('HGET', key, user) or '', ARGV[a + 3])
    if merged == '' then
      redis.call('HDEL', key, user)
    elseif merged then
      redis.call('HSET', key, user, merged)
    end
  end
end

-- 32-bit FNV-1a, as layout.ts hashUser computes it.
local bxor = bit.bxor
local function fnv(s)
  local h = 2166136261
  for k = 1, #s do
    h = bxor(h, byte(s, k)) % 4294967296
    h = (h * 403 + (h % 256) * 16777216) % 4294967296
  end
  return h
end

-- Bucket p of a family (records or hot counts) into p and p + 2^L.
local function split(family)
  local from = family .. p
  local to = family .. (p + 2 ^ L)
  local mod = 2 ^ (L + 1)
  local flat = redis.call('HGETALL', from)
  local keep, move = {}, {}
  for k = 1, #flat, 2 do
    local dest = (fnv(flat[k]) % mod == p) and keep or move
    dest[#dest + 1] = flat[k]
    dest[#dest + 1] = flat[k + 1]
  end
  if #move > 0 then
    redis.call('DEL', from)
    if #keep > 0 then redis.call('HSET', from, unpack(keep)) end
    redis.call('HSET', to, unpack(move))
  end
end

local cap = tonumber(ARGV[4])
local splits = 0
while n > cap * (2 ^ L + p) and splits < tonumber(ARGV[5]) do
  split(prefix)
  split(cprefix)
  p = p + 1
  if p == 2 ^ L then
    L = L + 1
    p = 0
  end
  splits = splits + 1
end
redis.call('HSET', meta, 'L', L, 'p', p, 'n', n)
return 1
