// An engine in its own OS process on a shared Postgres store with Redis counters, on the
// built library (dist/). argv[2] is a JSON job: { pg, redis, prefix, limit, customers, ms,
// async, paceMs }. Waits until the test sets `<prefix>go`, decides 1 unit at a time for the
// customers in turn (decide; decideAsync when `async`), 50 calls then a pause of `paceMs`
// (default: one turn of the event loop), for `ms` ms, records a soft `seen` call for each
// allowed one, closes (which writes everything to Postgres) and prints
// {"allowed": {customer: n}, "reasons": {...}, "store": status().storeHealth}.
import { setImmediate as turn } from "node:timers/promises";
import { Redis } from "ioredis";
import { compilePolicy } from "../../src/engine/dist/core/compile.js";
import { Limitr } from "../../src/engine/dist/index.js";

const job = JSON.parse(process.argv[2]);
const policy = compilePolicy({
  limitr: 1,
  timezone: "UTC",
  meters: { calls: { event: "api.request", aggregation: "count" } },
  plans: {
    free: {
      default: true,
      entitlements: {
        api: { meter: "calls", limit: job.limit, mode: "hard" },
        seen: { meter: "calls", limit: 1_000_000, mode: "soft" },
      },
    },
  },
});
const limitr = await Limitr.open({
  policy,
  store: job.pg,
  counters: job.redis,
  countersPrefix: job.prefix,
  alerts: false,
  batch: { maxDelayMs: 50 },
});
const redis = new Redis(job.redis);
await redis.incr(`${job.prefix}ready`);
while (!(await redis.exists(`${job.prefix}go`))) await new Promise((r) => setTimeout(r, 5));
redis.disconnect();
const allowed = Object.fromEntries(job.customers.map((c) => [c, 0]));
const reasons = {};
const until = Date.now() + job.ms;
let i = 0;
while (Date.now() < until) {
  for (let k = 0; k < 50; k++) {
    const c = job.customers[i++ % job.customers.length];
    const d = job.async ? await limitr.decideAsync(c, "api", 1) : limitr.decide(c, "api", 1);
    reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
    if (d.allowed) {
      allowed[c]++;
      limitr.allow(c, "seen", 1);
    }
  }
  if (job.paceMs) await new Promise((r) => setTimeout(r, job.paceMs));
  else await turn();
}
await limitr.close();
const store = limitr.status().storeHealth;
process.stdout.write(`${JSON.stringify({ allowed, reasons, store })}\n`);
