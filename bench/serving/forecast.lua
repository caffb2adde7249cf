-- wrk script for the serving benchmark: POST /v1/forecast for a key drawn
-- at random from the first WARM_KEYS lines of KEYS_FILE (all of them when
-- WARM_KEYS is 0), 28 steps; at the end, the latency percentiles wrk does not
-- print by default (p99.9) and the count of non-2xx answers.
local keys = {}
local n_keys = 0

local function load_keys()
  local file = os.getenv("KEYS_FILE")
  local limit = tonumber(os.getenv("WARM_KEYS") or "0")
  for line in io.lines(file) do
    if limit > 0 and n_keys >= limit then break end
    n_keys = n_keys + 1
    keys[n_keys] = line
  end
end

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  load_keys()
  math.randomseed(seed or os.time())
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if os.getenv("TOKEN") then wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN") end
end

function request()
  local key = keys[math.random(1, n_keys)]
  return wrk.format(nil, "/v1/forecast",
                    nil, '{"key": "' .. key .. '", "horizon": 28}')
end

function done(summary, latency, requests)
  io.write(string.format("requests %d, errors: connect %d read %d write %d status %d timeout %d\n",
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
  io.write(string.format("requests/s %.0f\n", summary.requests / (summary.duration / 1e6)))
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("p%s %.3f ms\n", p, latency:percentile(p) / 1000))
  end
end
