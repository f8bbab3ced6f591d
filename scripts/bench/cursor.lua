-- GET /Users?count=100&cursor=<nextCursor of the previous page>: walks the whole list page
-- by page (each thread on its own), and starts over after the last page.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local next_cursor = ""

function request()
   return wrk.format("GET", base .. "/Users?count=100&cursor=" .. urlencode(next_cursor))
end

function response(status, headers, body)
   count_status(status, body)
   -- A plain find: a Lua pattern scan of a 100-user page costs about a millisecond of
   -- client time per response, enough to skew the figures at one connection.
   local _, j = (body or ""):find('"nextCursor":"', 1, true)
   next_cursor = (j and body:match('^([^"]+)', j + 1)) or ""
end
