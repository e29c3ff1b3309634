-- GET a random line of a file of request paths on every request.
-- Usage: wrk ... -s bench/lua/random_path.lua http://host:port -- /abs/path/to/paths.txt
-- Each wrk thread has its own Lua state, so each reads the file and seeds its own generator.

local paths = {}
local thread_count = 0

function setup(thread)
  -- Runs in the main state once per thread: give each thread a distinct seed offset.
  thread_count = thread_count + 1
  thread:set("seed_offset", thread_count)
end

function init(args)
  local file = assert(io.open(args[1], "r"), "cannot open the paths file " .. tostring(args[1]))
  for line in file:lines() do
    if #line > 0 then
      paths[#paths + 1] = line
    end
  end
  file:close()
  assert(#paths > 0, "the paths file is empty")
  math.randomseed(os.time() * 1000 + (seed_offset or 0))
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
