// An engine in its own OS process sharing hard limits through a Redis Cluster
// (`counters` + `countersCluster`), on the built library (dist/). argv[2] is a JSON job:
// { url, prefix, limit, burst, customers, rate, ms, lease?, drainMs? }.
// Prints {"ready": true} once open, then waits for a line on stdin. Then:
// phase 1: for `ms`, decides 1 unit at a steady `rate` calls a second, customers and the two
//   hard entitlements (`api`, a calendar month; `burst`, a sliding minute) in turn, with
//   `decide` (synchronous: a call finding its slice empty is denied `lease_pending`);
// phase 2: `decideAsync` 1 unit at a time, every customer and entitlement concurrently, until
//   each is refused `limit_exceeded` (the limits are reached to the last unit). A call denied
//   for another reason (`lease_pending` while the cluster is down) is asked again, for up to
//   `drainMs` (default 20 s).
// Every allowed `api` call also counts 1 on `seen` (soft) and `watched` (observe).
// Closes, and prints {"allowed": {"customer/entitlement": n}, "last": {"customer/entitlement": ms}
// (when phase 2 last allowed it a call), "reasons", "status", "errors" (counters errors seen)}.
import { createInterface } from "node:readline";
import { setTimeout as sleep, setImmediate as turn } from "node:timers/promises";
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
        burst: { meter: "calls", limit: job.burst, mode: "hard", period: { sliding: "PT1M" } },
        seen: { meter: "calls", limit: 1_000_000_000, mode: "soft" },
        watched: { meter: "calls", limit: 1, mode: "observe" },
      },
    },
  },
});
const limitr = await Limitr.open({
  policy,
  store: "memory",
  counters: job.url,
  countersCluster: true,
  countersPrefix: job.prefix,
  lease: job.lease,
  alerts: false,
});
say({ ready: true, pid: process.pid });
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once("line", resolve));
lines.close();

const pairs = job.customers.flatMap((c) => [
  [c, "api"],
  [c, "burst"],
]);
const allowed = Object.fromEntries(pairs.map(([c, e]) => [`${c}/${e}`, 0]));
/** When each limit last allowed a call (wall clock). */
const last = {};
const reasons = {};
const seenErrors = new Set();
const count = (c, e, d) => {
  reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
  if (!d.allowed) return;
  allowed[`${c}/${e}`]++;
  if (e === "api") {
    limitr.allow(c, "seen", 1);
    limitr.allow(c, "watched", 1);
  }
};
const note = () => {
  const e = limitr.status().counters?.lastError;
  if (e) seenErrors.add(e.replace(/\d+/g, "N"));
};

const start = Date.now();
let done = 0;
let i = 0;
while (Date.now() - start < job.ms) {
  const due = Math.min(500, Math.floor(((Date.now() - start) * job.rate) / 1000) - done);
  for (let k = 0; k < due; k++) {
    const [c, e] = pairs[i++ % pairs.length];
    count(c, e, limitr.decide(c, e, 1));
  }
  done += Math.max(0, due);
  note();
  await sleep(2);
}

// Every limit drains on its own, concurrently: one waiting for allowance does not hold up the others.
const drainUntil = Date.now() + (job.drainMs ?? 20_000);
await Promise.all(
  pairs.map(async ([c, e]) => {
    for (let n = 1; Date.now() < drainUntil; n++) {
      const d = await limitr.decideAsync(c, e, 1);
      count(c, e, d);
      if (d.reason === "limit_exceeded") return;
      if (d.allowed) last[`${c}/${e}`] = Date.now();
      else await sleep(20);
      // Calls decided from held allowance resolve without I/O: let replies and renewals in.
      if (n % 50 === 0) await turn();
    }
  }),
);
note();
const status = limitr.status().counters;
await limitr.close();
say({ allowed, last, reasons, status, errors: [...seenErrors], pid: process.pid });
