-- A read-heavy customer mix: point reads, list pages and upserts of existing customers.
-- Usage: wrk ... -s bench/lua/customer_mix.lua http://host:port -- EMAILS_FILE [GET% [LIST%]]
--   EMAILS_FILE  one seeded email a line (absolute path)
--   GET%         share of `GET /customers/{email}` (default 80)
--   LIST%        share of `GET /customers?limit=20` (default 10); the rest is
--                `PUT /customers/{email}` with a JSON body {"name": "..."} (answers 200 or 201)
-- Each wrk thread has its own Lua state, so each reads the file and seeds its own generator.

local emails = {}
local get_share = 80
local list_share = 10
local thread_count = 0
local put_headers = { ["Content-Type"] = "application/json" }

function setup(thread)
  -- Runs in the main state once per thread: give each thread a distinct seed offset.
  thread_count = thread_count + 1
  thread:set("seed_offset", thread_count)
end

function init(args)
  local file = assert(io.open(args[1], "r"), "cannot open the emails file " .. tostring(args[1]))
  for line in file:lines() do
    if #line > 0 then
      emails[#emails + 1] = line
    end
  end
  file:close()
  assert(#emails > 0, "the emails file is empty")
  get_share = tonumber(args[2] or get_share)
  list_share = tonumber(args[3] or list_share)
  assert(get_share >= 0 and list_share >= 0 and get_share + list_share <= 100, "bad shares")
  math.randomseed(os.time() * 1000 + (seed_offset or 0))
end

function request()
  local roll = math.random(100)
  local email = emails[math.random(#emails)]
  if roll <= get_share then
    return wrk.format("GET", "/customers/" .. email)
  elseif roll <= get_share + list_share then
    return wrk.format("GET", "/customers?limit=20")
  end
  local body = string.format('{"name": "Bench %d"}', math.random(1000000))
  return wrk.format("PUT", "/customers/" .. email, put_headers, body)
end
