// An engine in its own OS process deciding a hard limit on a sliding window shared through
// Redis (`counters`), on the built library (dist/). argv[2] is a JSON job:
// { url, prefix, limit, window, t0, speed, ms, async, customer }.
// The engine's clock runs `speed` times faster than the wall clock from `t0`, starting at the
// wall-clock instant the test writes to `<prefix>go`. It decides 1 unit at a time for `ms`
// (decideAsync when `async`, else decide, a hundred calls per event-loop turn), closes, and
// prints {"allowed": [clock instants of allowed calls], "reasons": {...}, "status": {...}}.
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
        api: { meter: "calls", limit: job.limit, mode: "hard", period: { sliding: job.window } },
      },
    },
  },
});
let wallStart = Number.POSITIVE_INFINITY;
const clock = () => job.t0 + Math.max(0, Date.now() - wallStart) * job.speed;
const limitr = await Limitr.open({
  policy,
  store: "memory",
  counters: job.url,
  countersPrefix: job.prefix,
  alerts: false,
  now: clock,
});
const redis = new Redis(job.url);
await redis.incr(`${job.prefix}ready`);
let go = null;
while ((go = await redis.get(`${job.prefix}go`)) === null) await new Promise((r) => setTimeout(r, 5));
redis.disconnect();
wallStart = Number(go);
while (Date.now() < wallStart) await new Promise((r) => setTimeout(r, 1));

const allowed = [];
const reasons = {};
let status = null;
const until = wallStart + job.ms;
while (Date.now() < until) {
  if (job.async) {
    const now = clock();
    const d = await limitr.decideAsync(job.customer, "api", 1, { now });
    reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
    if (d.allowed) allowed.push(now);
    // Denied: the window is full; ask again a little later.
    else await new Promise((r) => setTimeout(r, 2));
  } else {
    for (let k = 0; k < 100; k++) {
      const now = clock();
      const d = limitr.decide(job.customer, "api", 1, { now });
      reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
      if (d.allowed) allowed.push(now);
    }
    await turn();
  }
  if (status === null && (limitr.status().counters?.slidingLeases ?? 0) > 0)
    status = limitr.status().counters;
}
await limitr.close();
process.stdout.write(`${JSON.stringify({ allowed, reasons, status })}\n`);
