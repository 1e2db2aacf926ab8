// A lease holder in its own process, on the built engine. argv[2] is a JSON job:
// { url, prefix, counter, limit, params, mode, rate, reportEvery, stopAfter, unreported }.
// mode "drain": allow 1 unit at a time from its lease until the pool is used up, then release;
// prints {"allowed", "acquires", "reports"}.
// mode "hold": take a lease, report part of what it allows, allow `unreported` more without
// reporting, print {"ready": true, ...} and wait to be killed.
import { Redis } from "ioredis";
import { RedisLeases } from "../../src/engine/dist/adapters/redis/lease-client.js";
import { lowWater } from "../../src/engine/dist/core/engine/lease.js";

const job = JSON.parse(process.argv[2]);
const redis = new Redis(job.url);
const leases = new RedisLeases(redis, { prefix: job.prefix, params: job.params });
const pool = { counter: job.counter, periodStart: 0, periodEnd: null };
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

if (job.mode === "hold") {
  const a = await leases.acquire(pool, { limit: job.limit, need: 1, rate: job.rate });
  await leases.report(pool, job.reported);
  out({
    ready: true,
    granted: a.granted,
    reported: job.reported,
    allowanceAtReport: a.granted - job.reported,
  });
  setInterval(() => {}, 60_000);
} else {
  // Start together: the test sets `go` once every worker is connected.
  await redis.incr(`${job.prefix}ready`);
  while (!(await redis.exists(`${job.prefix}go`))) await new Promise((res) => setTimeout(res, 5));
  let allowed = 0;
  let allowance = 0;
  let unreported = 0;
  let slice = 0;
  let acquires = 0;
  let reports = 0;
  for (;;) {
    if (allowance >= 1) {
      allowance -= 1;
      unreported += 1;
      allowed += 1;
      if (job.stopAfter && allowed >= job.stopAfter) break;
      if (unreported >= job.reportEvery) {
        // Now and then give part of the allowance back, as a holder whose demand fell would.
        const giveBack = Math.random() < 0.2 ? Math.floor(allowance / 2) : 0;
        const r = await leases.report(pool, unreported, giveBack);
        reports++;
        unreported = 0;
        allowance = r.allowance;
      }
      if (allowance > 0 && allowance > lowWater(slice, leases.params)) continue;
    }
    // Below the low-water mark: refill (need 0) while units remain; a call needs 1 when empty.
    const r = await leases.acquire(pool, {
      limit: job.limit,
      consumed: unreported,
      need: allowance >= 1 ? 0 : 1,
      rate: job.rate,
    });
    acquires++;
    unreported = 0;
    allowance = r.allowance;
    // A refill that found nothing to spread waits for the allowance to run out.
    slice = r.granted;
    if (allowance >= 1) continue;
    const t = await leases.totals(pool);
    if (t.consumed >= job.limit) break;
    await new Promise((res) => setTimeout(res, 2));
  }
  const r = await leases.release(pool, unreported);
  out({ allowed, acquires, reports: reports + 1, returned: r.returned });
  redis.disconnect();
}
