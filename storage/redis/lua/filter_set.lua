--[[
  Evaluates a retargeting filter whose leaves all name one source, inside Redis, in that
  source's hash slot: the matching users as a set, then their count or a page of them.

  KEYS[1]        <ns>:{src}:i:any         the filter's universe (users with any event)
  KEYS[2..L+1]   the leaves' index keys (zsets: user -> latest time)
  KEYS[L+2..]    scratch keys (same hash tag), one per program step, deleted before returning

  ARGV[1]        mode: "count" or "page"
  ARGV[2]        page: exclusive lower bound on user ids ("" for the first page)
  ARGV[3]        page: most users to return
  ARGV[4]        number of leaves L
  ARGV[5..]      the program in postfix, one step per scratch key:
                   "L", i, min, max   users of leaf i's index KEYS[2+i] (i from 0) with min <= score <= max
                                      (min/max are ZRANGE BYSCORE bounds: "-inf", "(123", ...)
                   "A", n             intersection of the top n results
                   "O", n             union of the top n results
                   "N"                universe minus the top result

  Returns        count mode: the number of matching users
                 page mode:  up to ARGV[3] + 1 users after ARGV[2], in id order (the extra one
                             tells the caller another page exists)
  In page mode the result's scores are set to 0, so ZRANGE BYLEX orders users by id.
  The scratch keys are removed on every path, also when a command fails (a bad bound, a
  wrong type): the work runs under pcall, and its error is returned after the cleanup.
]]
local used = {}

local function run()
  local nleaves = tonumber(ARGV[4])
  local scratch = nleaves + 2
  local stack = {}
  local a = 5
  while a <= #ARGV do
    local op = ARGV[a]
    local dest = KEYS[scratch]
    scratch = scratch + 1
    used[#used + 1] = dest
    if op == 'L' then
      local src = KEYS[2 + tonumber(ARGV[a + 1])] -- leaf numbers start at 0
      redis.call('ZRANGESTORE', dest, src, ARGV[a + 2], ARGV[a + 3], 'BYSCORE')
      a = a + 4
    elseif op == 'A' or op == 'O' then
      local n = tonumber(ARGV[a + 1])
      local args = {}
      for i = #stack - n + 1, #stack do args[#args + 1] = stack[i] end
      for _ = 1, n do stack[#stack] = nil end
      redis.call(op == 'A' and 'ZINTERSTORE' or 'ZUNIONSTORE', dest, n, unpack(args))
      a = a + 2
    else -- 'N'
      local top = stack[#stack]
      stack[#stack] = nil
      redis.call('ZDIFFSTORE', dest, 2, KEYS[1], top)
      a = a + 1
    end
    stack[#stack + 1] = dest
  end
  local result = stack[#stack]
  local out
  if ARGV[1] == 'count' then
    out = redis.call('ZCARD', result)
  else
    -- Scores are times (or sums of them); page mode needs them equal for BYLEX to order by id.
    redis.call('ZINTERSTORE', result, 1, result, 'WEIGHTS', 0)
    local from = ARGV[2] == '' and '-' or '(' .. ARGV[2]
    out = redis.call('ZRANGE', result, from, '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[3]) + 1)
  end
  return out
end

local ok, out = pcall(run)
if #used > 0 then redis.call('UNLINK', unpack(used)) end
if not ok then
  -- redis.call raises a table {err = "..."}; a Lua error raises a string.
  return redis.error_reply(type(out) == 'table' and out.err or tostring(out))
end
return out
