-- GET /api/v1/auth/session with a random one of the session tokens in BENCH_TOKENS_FILE (one
-- per line): the chat platform's check.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS_FILE")) do
   if line ~= "" then table.insert(tokens, line) end
end

function request()
   local t = tokens[math.random(1, #tokens)]
   return wrk.format("GET", "/api/v1/auth/session", { ["Authorization"] = "Bearer " .. t })
end
