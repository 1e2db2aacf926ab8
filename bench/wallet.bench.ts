/**
 * Prepaid wallets on the decision path (SPEC §12): allow() on a `mode:
 * prepaid` entitlement, which prices the call and debits the customer's
 * wallet in the same operation (R17), against allow() on a plain hard limit,
 * in the same run, memory store, 10,000 customers. Rounds alternate between
 * the two so both see the same machine; throughput is calls per second of
 * CPU time. Prints one JSON summary line; the target is a ratio >= 0.5.
 * A second case: a prepaid entitlement on a plain meter paying a wallet held
 * in a credit unit (its quantity converted through the unit's rate), against
 * the same hard-limit baseline.
 *
 *   npx tsx bench/wallet.bench.ts        (or BENCH_ONLY=wallet npm run bench)
 */
import { compilePolicy } from "../src/engine/core/compile.js";
import { Limitr } from "../src/engine/runtime/limitr.js";

const CUSTOMERS = 10_000;
const ROUNDS = Number(process.env.ROUNDS ?? 4);
const SECONDS = 1;
const CHUNK = 10_000;

const policy = compilePolicy({
  limitr: 1,
  name: "bench",
  currency: "USD",
  timezone: "UTC",
  meters: { tokens: { event: "llm.completion", aggregation: "sum", property: "tokens" } },
  plans: {
    standard: {
      default: true,
      wallet: { unit: "USD", minimum: 1 },
      entitlements: {
        hard: { meter: "tokens", limit: 1e12, mode: "hard" },
        prepaid: { meter: "tokens", mode: "prepaid", price: { model: "per_unit", unit_price: "0.000002" } },
      },
    },
  },
});

const creditPolicy = compilePolicy({
  limitr: 1,
  name: "bench-credits",
  currency: "USD",
  timezone: "UTC",
  meters: { tokens: { event: "llm.completion", aggregation: "sum", property: "tokens" } },
  credit_units: { credits: { value: 0.01, rates: { tokens: { rate: 0.25, per: 1000 } } } },
  plans: {
    standard: {
      default: true,
      wallet: { unit: "credits", minimum: 1 },
      entitlements: { prepaid: { meter: "tokens", mode: "prepaid" } },
    },
  },
});

const customers = Array.from({ length: CUSTOMERS }, (_, i) => `cust-${i}`);
const order = new Uint32Array(1 << 20);
let x = 2463534242;
for (let i = 0; i < order.length; i++) {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  order[i] = (x >>> 0) % CUSTOMERS;
}
const custOf = Array.from(order, (k) => customers[k] as string);
const MASK = order.length - 1;

const engine = await Limitr.open({ policy, store: "memory", alerts: false });
for (const c of customers) {
  engine.topUp(c, "1000000000", { id: `seed-${c}` });
  engine.check(c, "hard");
  engine.check(c, "prepaid");
}
await engine.flush();
const creditEngine = await Limitr.open({ policy: creditPolicy, store: "memory", alerts: false });
for (const c of customers) {
  creditEngine.topUp(c, "1000000000", { id: `seed-${c}` });
  creditEngine.check(c, "prepaid");
}
await creditEngine.flush();

let denied = 0;
let offset = 0;
async function measure(entitlement: string, on: Limitr = engine): Promise<number> {
  let n = 0;
  const cpu0 = process.cpuUsage();
  const stop = process.hrtime.bigint() + BigInt(SECONDS * 1e9);
  do {
    for (let i = 0; i < CHUNK; i++)
      if (!on.allow(custOf[(offset + i) & MASK] as string, entitlement, 1200)) denied++;
    offset = (offset + CHUNK) & MASK;
    n += CHUNK;
    await new Promise((resolve) => setImmediate(resolve));
  } while (process.hrtime.bigint() < stop);
  await on.flush();
  const cpu = process.cpuUsage(cpu0);
  return Math.round((n / (cpu.user + cpu.system)) * 1e6);
}

const hard: number[] = [];
const prepaid: number[] = [];
const credit: number[] = [];
await measure("hard");
await measure("prepaid");
await measure("prepaid", creditEngine);
for (let r = 0; r < ROUNDS; r++) {
  hard.push(await measure("hard"));
  prepaid.push(await measure("prepaid"));
  credit.push(await measure("prepaid", creditEngine));
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
const sample = engine.balance("cust-0");
const creditSample = creditEngine.balance("cust-0");
await engine.close();
await creditEngine.close();
const creditRatio = Math.round((median(credit) / median(hard)) * 100) / 100;
const ratio = Math.round((median(prepaid) / median(hard)) * 100) / 100;
console.error(
  `hard-limit allow(): ${median(hard)} ops/s; prepaid allow(): ${median(prepaid)} ops/s; prepaid on a credit wallet: ${median(credit)} ops/s (cpu)`,
);
console.log(
  JSON.stringify({
    bench: "wallet",
    results: {
      customers: CUSTOMERS,
      hardAllowOpsPerSec: median(hard),
      prepaidAllowOpsPerSec: median(prepaid),
      ratio,
      target: 0.5,
      met: ratio >= 0.5,
      denied,
      sampleBalance: sample.balance,
      creditWalletAllowOpsPerSec: median(credit),
      creditWalletRatio: creditRatio,
      creditSampleBalance: creditSample.balance,
    },
  }),
);
