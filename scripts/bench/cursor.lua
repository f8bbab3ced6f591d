-- GET /Users?count=100&cursor=<nextCursor of the previous page>: walks the whole list page
-- by page (each thread on its own), and starts over after the last page.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local next_cursor = ""

function request()
   return wrk.format("GET", base .. "/Users?count=100&cursor=" .. urlencode(next_cursor))
end

function response(status, headers, body)
   count_status(status, body)
   next_cursor = (body and body:match('"nextCursor"%s*:%s*"([^"]+)"')) or ""
end
