--[[
  Merges one source's folded batch (or a restore chunk) into its hot index, unless the
  source's tier gate is closed.

  KEYS[1]   <ns>:{src}:tier   tier gate: absent, "hot" or "restoring" means writable;
                              "demoting" or "expired" means skip (history only)
  KEYS[2]   <ns>:{src}:keys   set of the source's index key names (maintained here)
  KEYS[3..] index keys (zsets: member = userId, score = latest epoch ms)

  ARGV      for each index key KEYS[2+i], in order: n, then n pairs of score, member

  Returns   1 when applied, 0 when skipped because the tier gate is closed.
  ZADD GT keeps the larger score, so the merge is a max: replays and any order converge.
]]
local tier = redis.call('GET', KEYS[1])
if tier == 'demoting' or tier == 'expired' then
  return 0
end
local CHUNK = 1000 -- values per ZADD call: two per member, well under Lua's stack limit
local a = 1
for k = 3, #KEYS do
  local n = tonumber(ARGV[a])
  a = a + 1
  local last = a + 2 * n - 1
  while a <= last do
    local stop = math.min(a + CHUNK - 1, last)
    redis.call('ZADD', KEYS[k], 'GT', unpack(ARGV, a, stop))
    a = stop + 1
  end
  redis.call('SADD', KEYS[2], KEYS[k])
end
return 1
