--[[
  Detects a Redis that lost the namespace's data (restarted empty, flushed, or replaced) and
  elects one process to rebuild it.

  KEYS[1]   <ns>:sentinel     present while this Redis holds the namespace's hot tier
  KEYS[2]   <ns>:rebuilding   present while some process rebuilds the hot tier
  ARGV[1]   this process's id
  ARGV[2]   claim time to live in ms (the rebuilder renews it)

  Returns   0 when the sentinel is present and nobody rebuilds,
            1 when it was missing: this caller now owns the rebuild (both keys set),
            2 when another process's rebuild is under way.
  The sentinel is written before the rebuild starts, so a second loss during the rebuild is
  noticed again.
]]
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 2
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
