/**
 * `limitr serve` over HTTP: POST /v1/allow on keep-alive connections against a
 * bare node:http server that parses the same JSON body and answers a constant,
 * both in their own process and driven by the same load generator (a Node
 * client, http.Agent keepAlive, CONCURRENCY requests in flight); then
 * /v1/batch with 100 calls per request against single /v1/allow requests, in
 * calls per second. Prints one JSON summary line.
 *
 *   npx tsx bench/serve.bench.ts        (or BENCH_ONLY=serve npm run bench)
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../src/cli/bin/limitr.js", import.meta.url));
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CUSTOMERS = 1000;
const BATCH = 100;

const dir = mkdtempSync(join(tmpdir(), "limitr-serve-bench-"));
writeFileSync(
  join(dir, "limitr.yaml"),
  JSON.stringify({
    limitr: 1,
    name: "bench",
    timezone: "UTC",
    meters: { calls: { event: "bench.call", aggregation: "count" } },
    plans: {
      standard: { default: true, entitlements: { api: { meter: "calls", limit: 1e12, mode: "hard" } } },
    },
  }),
);

/** The contender: parse the JSON body, answer the same constant /v1/allow answers. */
const BARE = `
const http = require("node:http");
const server = http.createServer((req, res) => {
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    JSON.parse(body);
    res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
    res.end('{"allowed":true}');
  });
});
server.keepAliveTimeout = 5000;
server.listen(0, "127.0.0.1", () => console.log("http://127.0.0.1:" + server.address().port));
process.on("SIGTERM", () => server.close());
`;

async function start(args: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, LIMITR_API_KEYS: "" },
  });
  const line = await new Promise<string>((resolve) =>
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once("line", resolve),
  );
  return { url: line.trim(), child };
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

interface Load {
  requests_per_s: number;
  /** CPU time the server process spent per request (user + system): steadier than rates on a shared machine. */
  server_cpu_us_per_request: number | null;
  p50_ms: number;
  p99_ms: number;
  requests: number;
}

/** CONCURRENCY loops each sending `body()` to `path` back to back for `seconds`. */
/** CPU seconds a process has used (Linux /proc), or null elsewhere. */
function cpuSeconds(pid: number | undefined): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks (USER_HZ = 100)
  } catch {
    return null;
  }
}

async function load(
  server: { url: string; child: ChildProcess },
  path: string,
  body: (i: number) => string,
  seconds: number,
): Promise<Load> {
  const url = server.url;
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const { hostname, port } = new URL(url);
  const latencies: number[] = [];
  let counter = 0;
  let measuring = false;
  let running = true;
  const send = (payload: string) =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        {
          agent,
          hostname,
          port,
          path,
          method: "POST",
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
        },
        (res) => {
          res.resume();
          res.on("end", () =>
            res.statusCode === 200 ? resolve() : reject(new Error(`${path}: ${res.statusCode}`)),
          );
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  const loop = async () => {
    while (running) {
      const payload = body(counter++);
      const t0 = process.hrtime.bigint();
      await send(payload);
      if (measuring) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  };
  const loops = Array.from({ length: CONCURRENCY }, loop);
  await new Promise((r) => setTimeout(r, 500)); // warm-up: JIT, connections
  measuring = true;
  const cpu0 = cpuSeconds(server.child.pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = cpuSeconds(server.child.pid);
  running = false;
  await Promise.all(loops);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0, 3);
  const cpuUs = cpu0 === null || cpu1 === null ? null : Math.round(((cpu1 - cpu0) * 1e6) / latencies.length);
  return {
    requests_per_s: Math.round(latencies.length / elapsed),
    server_cpu_us_per_request: cpuUs,
    p50_ms: at(0.5),
    p99_ms: at(0.99),
    requests: latencies.length,
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

const allowBody = (i: number) =>
  JSON.stringify({ customer: `cust-${i % CUSTOMERS}`, entitlement: "api", amount: 1 });
const batchBody = (i: number) =>
  JSON.stringify({
    calls: Array.from({ length: BATCH }, (_, j) => ({
      op: "allow",
      body: { customer: `cust-${(i * BATCH + j) % CUSTOMERS}`, entitlement: "api", amount: 1 },
    })),
  });

/** The best of ROUNDS runs (the machine is shared: the rounds of each contender are interleaved). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const best = (runs: Load[]) => runs.reduce((a, b) => (b.requests_per_s > a.requests_per_s ? b : a));

try {
  const bare = await start(["-e", BARE]);
  const served = await start([BIN, "serve", "--port", "0", "--store", "memory", "--policies", dir]);
  const runs: { bare: Load[]; allow: Load[]; batch: Load[] } = { bare: [], allow: [], batch: [] };
  for (let r = 0; r < ROUNDS; r++) {
    runs.bare.push(await load(bare, "/v1/allow", allowBody, SECONDS));
    runs.allow.push(await load(served, "/v1/allow", allowBody, SECONDS));
    runs.batch.push(await load(served, "/v1/batch", batchBody, SECONDS));
  }
  await stop(bare.child);
  await stop(served.child);
  const [bareAllow, allow, batch] = [best(runs.bare), best(runs.allow), best(runs.batch)];

  const results = {
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    allow,
    bare_node_http: bareAllow,
    allow_vs_bare_throughput: round(allow.requests_per_s / bareAllow.requests_per_s, 2),
    allow_vs_bare_server_cpu:
      allow.server_cpu_us_per_request && bareAllow.server_cpu_us_per_request
        ? round(allow.server_cpu_us_per_request / bareAllow.server_cpu_us_per_request, 2)
        : null,
    batch: { ...batch, calls_per_request: BATCH, calls_per_s: batch.requests_per_s * BATCH },
    single_calls_per_s: allow.requests_per_s,
    batch_vs_single_calls: round((batch.requests_per_s * BATCH) / allow.requests_per_s, 1),
    all_rounds_requests_per_s: {
      bare: runs.bare.map((x) => x.requests_per_s),
      allow: runs.allow.map((x) => x.requests_per_s),
      batch: runs.batch.map((x) => x.requests_per_s),
    },
    all_rounds_server_cpu_us_per_request: {
      bare: runs.bare.map((x) => x.server_cpu_us_per_request),
      allow: runs.allow.map((x) => x.server_cpu_us_per_request),
      batch: runs.batch.map((x) => x.server_cpu_us_per_request),
    },
  };
  console.log(JSON.stringify({ bench: "serve", results }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
