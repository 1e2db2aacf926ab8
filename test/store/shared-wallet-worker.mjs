// An engine in its own OS process on a shared Postgres store (and Redis counters), on the built
// library (dist/), spending one customer's shared wallet or spend cap. argv[2] is a JSON job:
// { pg, redis, prefix, policy: "wallet" | "payg", mode, customer, calls, amount, ms, lease, walletLease }.
// Every mode but "hold" waits until the test sets `<prefix>go` in Redis.
// mode "spend": decideAsync(customer, e, amount) with an id per call, cycling through `calls`
//   (entitlement names), until the wallet or cap is spent (20 denials in a row with
//   insufficient_balance or cap_exceeded, once the Redis key `<prefix><after>` exists when
//   `after` is given) or `ms` passed; close, print {"allowed": n, "costs": [decimal...], "reasons": {...}}.
//   `costs` holds each allowed call's price (the wallet debit or the cap spend).
// mode "topup": topUp(customer, amount, { id }) after `delay` ms, close, set `<prefix>topped`,
//   print {"done": true}.
// mode "hold": allowAsync `hold` calls, flush, print {"ready": true, ...}, and wait to be killed.
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { compilePolicy } from "../../src/engine/dist/core/compile.js";
import { Limitr } from "../../src/engine/dist/index.js";

const job = JSON.parse(process.argv[2]);
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

/** The wallet test policy: a prepaid call at 0.013 USD, a 1 USD reserve, and a 0.5 USD daily cap on two entitlements. */
const walletPolicy = () =>
  compilePolicy({
    limitr: 1,
    timezone: "UTC",
    currency: "USD",
    meters: { calls: { event: "api.request", aggregation: "count" } },
    plans: {
      payg: {
        default: true,
        wallet: { unit: "USD", minimum: 1 },
        caps: { daily: { amount: 0.5, period: "day", entitlements: ["search", "lookup"] } },
        entitlements: {
          paid: { meter: "calls", mode: "prepaid", price: { model: "per_unit", unit_price: 0.013 } },
          search: {
            meter: "calls",
            mode: "soft",
            limit: 1_000_000,
            price: { model: "per_unit", unit_price: 0.03 },
          },
          lookup: {
            meter: "calls",
            mode: "soft",
            limit: 1_000_000,
            price: { model: "per_unit", unit_price: 0.02 },
          },
        },
      },
    },
  });

const limitr = await Limitr.open({
  policy: job.policy === "payg" ? job.policyDir : walletPolicy(),
  store: job.pg,
  counters: job.redis,
  countersPrefix: job.prefix,
  lease: job.lease,
  walletLease: job.walletLease,
  alerts: false,
  planPollMs: 0,
});

if (job.mode === "hold") {
  let allowed = 0;
  for (let i = 0; i < job.hold; i++)
    if (await limitr.allowAsync(job.customer, job.calls[0], job.amount ?? 1, { id: `${process.pid}-${i}` }))
      allowed++;
  await limitr.flush();
  say({ ready: true, allowed, status: limitr.status() });
  setInterval(() => {}, 60_000);
} else {
  const redis = new Redis(job.redis);
  await redis.incr(`${job.prefix}ready`);
  while (!(await redis.exists(`${job.prefix}go`))) await sleep(5);
  redis.disconnect();
  if (job.mode === "topup") {
    await sleep(job.delay ?? 0);
    const t = limitr.topUp(job.customer, job.amount, { id: job.id });
    await limitr.close();
    const r = new Redis(job.redis);
    await r.incr(`${job.prefix}topped`);
    r.disconnect();
    say({ done: true, duplicate: t.duplicate });
  } else {
    const watch = new Redis(job.redis);
    const reasons = {};
    const costs = [];
    const until = Date.now() + job.ms;
    let i = 0;
    let spent = 0;
    while (Date.now() < until) {
      const entitlement = job.calls[i % job.calls.length];
      const d = await limitr.decideAsync(job.customer, entitlement, job.amount ?? 1, {
        id: `${process.pid}-${i++}`,
      });
      reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
      if (d.allowed) {
        costs.push(d.price);
        spent = 0;
      } else if (d.reason === "insufficient_balance" || d.reason === "cap_exceeded") {
        if (
          ++spent >= 20 &&
          (job.after === undefined ||
            Number(await watch.get(`${job.prefix}${job.after}`)) >= (job.afterCount ?? 1))
        )
          break;
        await sleep(10);
      } else await sleep(2);
    }
    watch.disconnect();
    const status = limitr.status();
    await limitr.close();
    say({ allowed: costs.length, costs, reasons, lastError: status.lastError });
  }
}
