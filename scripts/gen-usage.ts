/**
 * Seeded, deterministic usage for the example policy (policies/): a month of
 * events across every meter for the four contract customers and thirty
 * self-serve ones, plus their plan history.
 *
 *   npm run gen:usage -- --events 100000 --seed 1 --out fixtures/usage/2026-10.ndjson.gz \
 *     --customers fixtures/usage/2026-10.customers.csv
 *   npm run gen:usage -- --events 10000000 --out /tmp/10m.ndjson      # streamed to disk
 *
 * Options: --events N, --seed S, --out FILE (.ndjson[.gz] or .csv[.gz]), --month YYYY-MM
 * (UTC month boundaries shifted to America/New_York), --customers FILE (plan history CSV).
 */
import { createWriteStream, writeFileSync } from "node:fs";
import type { Writable } from "node:stream";
import { parseArgs } from "node:util";
import { createGzip } from "node:zlib";
import { DateTime } from "luxon";

const { values: args } = parseArgs({
  options: {
    events: { type: "string", default: "100000" },
    seed: { type: "string", default: "1" },
    out: { type: "string" },
    month: { type: "string", default: "2026-10" },
    customers: { type: "string" },
  },
});

/** mulberry32: tiny, fast, good enough for synthetic data, identical on every platform. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Customer {
  id: string;
  tier: "free" | "pro" | "enterprise";
  weight: number;
}

const ZONE = "America/New_York";
const month = DateTime.fromISO(`${args.month}-01`, { zone: ZONE });
const start = month.toMillis();
const end = month.plus({ months: 1 }).toMillis();
const rand = rng(Number(args.seed));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

const customers: Customer[] = [
  { id: "acme-holdings", tier: "enterprise", weight: 8 },
  { id: "acme-research", tier: "enterprise", weight: 5 },
  { id: "globex", tier: "pro", weight: 3 },
  { id: "initech", tier: "pro", weight: 2 },
];
// Self-serve: plan history below. Changes are spread over the month so bills show proration and trials.
const history: { customer: string; plan: string; at: string }[] = [];
for (let i = 1; i <= 30; i++) {
  const id = `cust-${String(i).padStart(3, "0")}`;
  const pro = i % 3 === 0;
  customers.push({ id, tier: pro ? "pro" : "free", weight: pro ? 1 : 0.25 });
  history.push({ customer: id, plan: pro ? "pro" : "free", at: "2026-06-01" });
}
const day = (d: number) => month.plus({ days: d - 1 }).toISODate() as string;
history.push({ customer: "cust-001", plan: "pro", at: day(12) }); // upgrade mid-month (trial starts)
history.push({ customer: "cust-003", plan: "free", at: day(20) }); // downgrade: prorated credit
history.push({ customer: "cust-004", plan: "pro", at: day(1) }); // upgrade on the first: whole month
history.push({ customer: "cust-006", plan: "free", at: day(9) });
history.push({ customer: "cust-006", plan: "pro", at: day(23) }); // back again, no second trial fee waiver
history.push({ customer: "cust-031", plan: "pro", at: day(5) }); // new sign-up straight to pro
customers.push({ id: "cust-031", tier: "pro", weight: 1 });
customers.push({ id: "cust-032", tier: "free", weight: 0.2 }); // events only: default plan

const totalWeight = customers.reduce((s, c) => s + c.weight, 0);
function pickCustomer(): Customer {
  let r = rand() * totalWeight;
  for (const c of customers) {
    r -= c.weight;
    if (r <= 0) return c;
  }
  return customers[customers.length - 1] as Customer;
}

const MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet", "llama-3-70b"] as const;
const TOOLS = ["web_search", "news_search", "code_exec", "fetch_url", "checkout"] as const;
const ENDPOINTS = ["/v1/chat", "/v1/embeddings", "/v1/files", "/v1/jobs"] as const;

function event(i: number, ts: number): Record<string, unknown> {
  const c = pickCustomer();
  const scale = c.tier === "enterprise" ? 8 : c.tier === "pro" ? 3 : 0.04;
  const r = rand();
  let type: string;
  let properties: Record<string, unknown>;
  if (r < 0.58) {
    type = "llm.completion";
    properties = {
      model: pick(MODELS),
      input_tokens: Math.round(int(200, 6000) * scale),
      output_tokens: Math.round(int(50, 1500) * scale),
    };
  } else if (r < 0.78) {
    type = "api.request";
    properties = { endpoint: pick(ENDPOINTS), status: rand() < 0.97 ? 200 : 429 };
  } else if (r < 0.88) {
    type = "mcp.tool_call";
    properties = { tool: pick(TOOLS) };
  } else if (r < 0.93) {
    type = "seat.active";
    properties = { user_id: `${c.id}-u${int(1, c.tier === "enterprise" ? 40 : c.tier === "pro" ? 6 : 2)}` };
  } else if (r < 0.97) {
    type = c.tier === "free" ? "api.request" : "gpu.job";
    properties =
      c.tier === "free"
        ? { endpoint: "/v1/chat", status: 200 }
        : { gpu: rand() < 0.7 ? "a100" : "h100", seconds: int(5, 240) };
  } else {
    type = "agent.purchase";
    properties = { amount: int(100, 25_000) / 100, merchant: pick(["acme-store", "books", "travel"]) };
  }
  return {
    id: `evt-${args.seed}-${i.toString(36).padStart(7, "0")}`,
    type,
    customer: c.id,
    timestamp: new Date(ts).toISOString(),
    properties,
  };
}

async function main(): Promise<void> {
  const n = Number(args.events);
  const outPath = args.out;
  const csv = outPath?.replace(/\.gz$/, "").endsWith(".csv") ?? false;
  let sink: Writable = process.stdout;
  let done: Promise<void> = Promise.resolve();
  if (outPath) {
    const file = createWriteStream(outPath);
    done = new Promise((resolve, reject) => file.on("finish", () => resolve()).on("error", reject));
    if (outPath.endsWith(".gz")) {
      const gz = createGzip({ level: 6 });
      gz.pipe(file);
      sink = gz;
    } else sink = file;
  }
  const write = (chunk: string) =>
    sink.write(chunk) ? Promise.resolve() : new Promise<void>((r) => sink.once("drain", () => r()));
  const PROPS = [
    "model",
    "input_tokens",
    "output_tokens",
    "endpoint",
    "status",
    "tool",
    "user_id",
    "gpu",
    "seconds",
    "amount",
    "merchant",
  ];
  if (csv) await write(`id,type,customer,timestamp,${PROPS.map((p) => `properties.${p}`).join(",")}\n`);
  const span = end - start;
  let chunk: string[] = [];
  for (let i = 0; i < n; i++) {
    const ts = start + Math.floor(((i + rand()) * span) / n);
    const e = event(i, ts);
    if (csv) {
      const p = e.properties as Record<string, unknown>;
      chunk.push(
        `${e.id},${e.type},${e.customer},${e.timestamp},${PROPS.map((k) => (p[k] === undefined ? "" : String(p[k]))).join(",")}`,
      );
    } else chunk.push(JSON.stringify(e));
    if (chunk.length === 10_000) {
      await write(`${chunk.join("\n")}\n`);
      chunk = [];
    }
  }
  if (chunk.length > 0) await write(`${chunk.join("\n")}\n`);
  if (sink !== process.stdout) sink.end();
  await done;
  if (args.customers) {
    const rows = history.map((h) => `${h.customer},${h.plan},${h.at}`);
    writeFileSync(args.customers, `customer,plan,at\n${rows.join("\n")}\n`);
  }
}

await main();
