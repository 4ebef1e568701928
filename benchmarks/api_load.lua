-- wrk script of benchmarks/api_load.py: GET the request paths of a file (one a line, the first argument after
-- the URL) in turn, each thread from its own place in the list, and print the figures as one JSON line at the end.
local paths = {}
local index = 0
local threads = 0

function setup(thread)
   thread:set("offset", threads)  -- a global of that thread's script, read in init
   threads = threads + 1
end

function init(args)
   for line in io.lines(args[1]) do
      if #line > 0 then
         paths[#paths + 1] = line
      end
   end
   -- two threads running the same sequence would ask the same path at the same moment
   index = (offset or 0) * math.floor(#paths / 2)
   -- the second argument: milliseconds each client pauses before its next request (a person at the page)
   local pause = tonumber(args[2] or "0")
   if pause > 0 then
      function delay()
         return pause
      end
   end
end

function request()
   index = index % #paths + 1
   return wrk.format("GET", paths[index])
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      '{"requests": %d, "seconds": %.3f, "requests_per_second": %.2f, "p50_ms": %.3f, "p95_ms": %.3f, '
         .. '"p99_ms": %.3f, "max_ms": %.3f, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, '
         .. '"timeout": %d}}\n',
      summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3,
      latency.max / 1e3, errors.connect, errors.read, errors.write, errors.status, errors.timeout
   ))
end
