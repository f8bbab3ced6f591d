-- GET /Users?startIndex=<random>&count=100: a page anywhere in the seeded users.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local page = 100

function request()
   local start = math.random(1, math.max(1, users - page + 1))
   return wrk.format("GET", base .. "/Users?startIndex=" .. start .. "&count=" .. page)
end
