--[[
  Detects a Redis that lost the namespace's data (restarted empty, flushed, or replaced) and
  elects one process to rebuild it.

  KEYS[1]   <ns>:{<ns>}:sentinel     present while this Redis holds the namespace's hot tier
  KEYS[2]   <ns>:{<ns>}:rebuilding   present while some process rebuilds the hot tier
            (both built by namespaceKeys in keys.ts; one hash tag, so one slot on a cluster)
  ARGV[1]   this process's id
  ARGV[2]   claim time to live in ms (the rebuilder renews it)
  ARGV[3]   "1" when the caller found another master's sentinel, <ns>:{<ns>:m<i>}:sentinel,
            missing (Redis Cluster): claim even though KEYS[1] is present; absent or "0" otherwise

  Returns   0 when the sentinel is present and nobody rebuilds (and ARGV[3] is not "1"),
            1 when it was missing: this caller now owns the rebuild (both keys set),
            2 when another process's rebuild is under way,
            3 when the sentinel was present but ARGV[3] is "1": this caller owns the rebuild.
  The sentinel is written before the rebuild starts, so a second loss during the rebuild is
  noticed again.
]]
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 2
end
local present = redis.call('EXISTS', KEYS[1]) == 1
if present and ARGV[3] ~= '1' then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
if present then
  return 3
end
return 1
