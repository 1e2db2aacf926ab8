// An engine in its own OS process sharing hard limits through the Postgres store's lease
// rows (no Redis), on the built library (dist/). argv[2] is a JSON job:
// { pg, dir, limit, lease, customers, mode, async, ms, hold }.
// mode "hammer": write `<dir>/ready-<pid>`, wait for `<dir>/go`, then decide 1 unit at a time
//   for the customers in turn (decideAsync when `async`: until every customer is refused;
//   else decide for `ms`), count a soft `seen` call for each allowed one, close, and print
//   {"allowed": {customer: n}, "reasons": {...}, "counters": status().counters}.
// mode "hold": allowAsync `hold` units for the first customer, flush, print {"ready": true, ...}
//   and wait to be killed.
import { existsSync, writeFileSync } from "node:fs";
import { setImmediate as turn } from "node:timers/promises";
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
        seen: { meter: "calls", limit: 100_000_000, mode: "soft" },
      },
    },
  },
});
const limitr = await Limitr.open({
  policy,
  store: job.pg,
  lease: job.lease,
  alerts: false,
  batch: { maxDelayMs: 50 },
});

if (job.mode === "hold") {
  let allowed = 0;
  for (let i = 0; i < job.hold; i++) if (await limitr.allowAsync(job.customers[0], "api", 1)) allowed++;
  await limitr.flush();
  say({ ready: true, allowed, counters: limitr.status().counters });
  setInterval(() => {}, 60_000);
} else {
  writeFileSync(`${job.dir}/ready-${process.pid}`, "");
  while (!existsSync(`${job.dir}/go`)) await new Promise((r) => setTimeout(r, 5));
  const allowed = Object.fromEntries(job.customers.map((c) => [c, 0]));
  const reasons = {};
  const note = (r) => {
    reasons[r] = (reasons[r] ?? 0) + 1;
  };
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
    const until = Date.now() + job.ms;
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
  const counters = limitr.status().counters;
  await limitr.close();
  say({ allowed, reasons, counters, pid: process.pid });
}
