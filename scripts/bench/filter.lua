-- GET /Users?filter=userName eq "<a random seeded user>"
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

function request()
   local name = string.format(name_format, math.random(1, users))
   local filter = urlencode('userName eq "' .. name .. '"')
   return wrk.format("GET", base .. "/Users?filter=" .. filter)
end
