-- wrk script of the load measurement (`cargo run --release -p affitor-scenarios --bin load`).
--
-- Every request is `POST /api/signup` with a JSON body and an email of its own, so that every
-- request creates a user (a repeated email is a 409, and tracks no lead):
--
--   {"email":"<n>-<thread>-<run>@load.test","password":"correct horse","affitorClickId":"<id>"}
--
-- Arguments after `--`: the click id, and a run tag that keeps the emails of two wrk runs against
-- the same server (the warm-up and the measured run) apart.
--
-- `done` prints one line that the load binary reads; every time is in microseconds.

local next_thread = 1

function setup(thread)
   thread:set("thread_id", next_thread)
   next_thread = next_thread + 1
end

function init(args)
   click_id = args[1] or "cust_1_1"
   run_tag = args[2] or "run"
   sent = 0
   headers = { ["Content-Type"] = "application/json" }
end

function request()
   sent = sent + 1
   local body = string.format(
      '{"email":"%d-%d-%s@load.test","password":"correct horse","affitorClickId":"%s"}',
      sent, thread_id, run_tag, click_id)
   return wrk.format("POST", "/api/signup", headers, body)
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      "AFFITOR_LOAD requests=%d duration_us=%d non_2xx=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
      summary.requests, summary.duration, errors.status, errors.connect, errors.read,
      errors.write, errors.timeout, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max))
end
