// An engine in its own OS process sharing hard limits through Redis (`counters`), on the
// built library (dist/). argv[2] is a JSON job:
// { url, prefix, limit, lease, customers, mode, async, ms }.
// mode "hammer": wait until the test sets `<prefix>go`, then decide 1 unit at a time for the
//   customers in turn (decideAsync when `async`, else decide) for `ms` (async: until every
//   customer is refused), close, and print {"allowed": {customer: n}, "reasons": {...}, "status"}.
// mode "hold": allowAsync `hold` units for the first customer, flush, print {"ready": true, ...}
//   and wait to be killed.
import { setImmediate as turn } from "node:timers/promises";
import { Redis } from "ioredis";
import { compilePolicy } from "../../src/engine/dist/core/compile.js";
import { Limitr } from "../../src/engine/dist/index.js";

const job = JSON.parse(process.argv[2]);
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
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
  store: "memory",
  counters: job.url,
  countersPrefix: job.prefix,
  lease: job.lease,
  alerts: false,
});

if (job.mode === "hold") {
  let allowed = 0;
  for (let i = 0; i < job.hold; i++) if (await limitr.allowAsync(job.customers[0], "api", 1)) allowed++;
  await limitr.flush();
  say({ ready: true, allowed, counters: limitr.status().counters });
  setInterval(() => {}, 60_000);
} else {
  const redis = new Redis(job.url);
  await redis.incr(`${job.prefix}ready`);
  while (!(await redis.exists(`${job.prefix}go`))) await new Promise((r) => setTimeout(r, 5));
  redis.disconnect();
  const allowed = Object.fromEntries(job.customers.map((c) => [c, 0]));
  const reasons = {};
  const note = (r) => {
    reasons[r] = (reasons[r] ?? 0) + 1;
  };
  const until = Date.now() + job.ms;
  if (job.async) {
    let open = [...job.customers];
    while (open.length > 0) {
      const next = [];
      for (const c of open) {
        const d = await limitr.decideAsync(c, "api", 1);
        note(d.reason);
        if (d.allowed) {
          allowed[c]++;
          limitr.allow(c, "seen", 1);
          next.push(c);
        }
      }
      open = next;
    }
  } else {
    let i = 0;
    while (Date.now() < until) {
      for (let k = 0; k < 100; k++) {
        const c = job.customers[i++ % job.customers.length];
        const d = limitr.decide(c, "api", 1);
        note(d.reason);
        if (d.allowed) {
          allowed[c]++;
          limitr.allow(c, "seen", 1);
        }
      }
      await turn();
    }
  }
  const status = limitr.status().counters;
  await limitr.close();
  say({ allowed, reasons, status, pid: process.pid });
}
