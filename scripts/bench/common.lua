-- Shared by the wrk scripts of scripts/bench-scim (loaded with dofile). Reads its settings
-- from the environment:
--   BENCH_TOKEN   bearer token
--   BENCH_BASE    SCIM base path ("/scim/v2" for Rollcall, "/v2" for scim2-server)
--   BENCH_USERS   how many seeded users exist (named by BENCH_NAME_FORMAT, from 1)
--   BENCH_NAME_FORMAT  string.format pattern of seeded userNames (default "user%06d")
--   BENCH_RUN     a label unique to this wrk run (keeps created userNames unique)
-- Each thread counts the responses that are not 2xx and keeps the first one as a sample;
-- done() prints one "RESULT key=value …" line that scripts/bench-scim parses.

base = os.getenv("BENCH_BASE") or "/scim/v2"
users = tonumber(os.getenv("BENCH_USERS") or "1000")
name_format = os.getenv("BENCH_NAME_FORMAT") or "user%06d"
run_label = os.getenv("BENCH_RUN") or "run"

wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
wrk.headers["Accept"] = "application/scim+json"

-- Main state: the thread objects, to read their counters in done().
local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("tid", #threads)
end

-- Thread state.
tid = 0
non2xx = 0
first_bad = ""

function init(args)
   math.randomseed(os.time() * 1000 + tid * 7919 + math.floor(os.clock() * 1e6))
   -- LuaJIT's first values after seeding are poorly mixed.
   for _ = 1, 10 do math.random() end
end

function urlencode(s)
   return (s:gsub("[^%w%-%._~]", function(c)
      return string.format("%%%02X", string.byte(c))
   end))
end

function count_status(status, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      if first_bad == "" then
         local sample = (body or ""):sub(1, 300):gsub("%s+", " ")
         first_bad = tostring(status) .. " " .. sample
      end
   end
end

function response(status, headers, body)
   count_status(status, body)
end

function done(summary, latency, requests)
   local bad, sample = 0, ""
   for _, t in ipairs(threads) do
      bad = bad + (tonumber(t:get("non2xx")) or 0)
      local s = t:get("first_bad")
      if sample == "" and s and s ~= "" then sample = s end
   end
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "RESULT requests=%d seconds=%.2f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d socket_errors=%d\n",
      summary.requests, secs, summary.requests / secs,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000,
      bad, e.connect + e.read + e.write + e.timeout))
   if sample ~= "" then
      io.write("FIRST_BAD " .. sample .. "\n")
   end
end
