--[[
  Merges one source's folded batch (or a restore chunk) into its hot index, unless the
  source's tier gate is closed.

  KEYS[1]   <ns>:{src}:tier   tier gate: absent, "hot" or "restoring" means writable;
                              "demoting" or "expired" means skip (history only)
  KEYS[2]   <ns>:{src}:keys   set of the source's index key names (maintained here)
  KEYS[3..] index keys (zsets: member = userId, score = latest epoch ms)

  ARGV      for each index key KEYS[2+i], ARGV[i]: "score member score member ..." (one
            string per index: member ids hold no spaces)

  Returns   1 when applied, 0 when skipped because the tier gate is closed.
  ZADD GT keeps the larger score, so the merge is a max: replays and any order converge.
]]
local tier = redis.call('GET', KEYS[1])
if tier == 'demoting' or tier == 'expired' then
  return 0
end
local CHUNK = 1000 -- values per ZADD call: two per member, well under Lua's stack limit
local buf = {}
for k = 3, #KEYS do
  local n = 0
  for score, member in string.gmatch(ARGV[k - 2], '(%S+) (%S+)') do
    buf[n + 1] = score
    buf[n + 2] = member
    n = n + 2
    if n >= CHUNK then
      redis.call('ZADD', KEYS[k], 'GT', unpack(buf, 1, n))
      n = 0
    end
  end
  if n > 0 then
    redis.call('ZADD', KEYS[k], 'GT', unpack(buf, 1, n))
  end
  redis.call('SADD', KEYS[2], KEYS[k])
end
return 1
