-- POST /api/v1/auth/login as a random one of BENCH_SIGNIN_USERS agents named
-- signin%05d, all with the password BENCH_PASSWORD: a login storm.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local n = tonumber(os.getenv("BENCH_SIGNIN_USERS") or "100")
local password = os.getenv("BENCH_PASSWORD") or ""

function request()
   local body = string.format('{"login":"signin%05d","password":"%s"}', math.random(1, n), password)
   return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" }, body)
end
