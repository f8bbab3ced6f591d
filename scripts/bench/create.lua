-- POST /Users: new users with unique userNames (run label, thread, random tag, counter).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.headers["Content-Type"] = "application/scim+json"

local n = 0
local tag = ""

local base_init = init
function init(args)
   base_init(args)
   tag = string.format("%06x", math.random(0, 0xffffff))
end

function request()
   n = n + 1
   local name = string.format("bench-%s-t%d-%s-%d", run_label, tid, tag, n)
   local body = string.format(
      '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],' ..
      '"userName":"%s","name":{"givenName":"Bench","familyName":"Agent %d"},' ..
      '"displayName":"Bench Agent %d","active":true,' ..
      '"emails":[{"value":"%s@example.com","type":"work","primary":true}]}',
      name, n, n, name)
   return wrk.format("POST", base .. "/Users", nil, body)
end
