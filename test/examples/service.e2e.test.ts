import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { execa, type ResultPromise } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const SERVER = fileURLToPath(new URL("../../examples/service/server.js", import.meta.url));

interface Counted {
  entitlement: string;
  amount: number;
  used: number;
  limit: number | null;
}
interface UsageRow {
  entitlement: string;
  used: number;
  limit: number | null;
  remaining: number | null;
  resetsAt: string | null;
}

let dir: string;
let db: string;
let service: ResultPromise<{ reject: false }>;
let url: string;

/** The first stdout line is the bound URL (PORT=0 picks a free port). */
function boundUrl(child: ResultPromise<{ reject: false }>): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n");
      if (line.length > 1) resolve(line[0]!);
    });
    child.once("exit", (code) => reject(new Error(`the service exited (${code}) before listening: ${out}`)));
  });
}

async function chat(customer: string, prompt: string) {
  const res = await fetch(`${url}/chat`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-customer-id": customer },
    body: JSON.stringify({ prompt }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function usage(customer: string): Promise<UsageRow[]> {
  const res = await fetch(`${url}/usage/${encodeURIComponent(customer)}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { entitlements: UsageRow[] }).entitlements;
}

describe("examples/service: a Fastify service embedding the engine", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "limitr-example-"));
    db = join(dir, "example.db");
    service = execa(process.execPath, [SERVER], {
      cwd: dir,
      reject: false,
      env: { PORT: "0", LIMITR_STORE: `sqlite:${db}` },
    });
    url = await boundUrl(service);
  });

  afterAll(() => {
    if (service.exitCode === null) service.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  // The free plan's chat_input is a hard 100,000 tokens a month; a 300,000-character
  // prompt is estimated at 75,000 tokens.
  const bigPrompt = "word ".repeat(60_000);

  it("R3 Check -> Call -> Record: a free customer is served, then denied with 402 past its hard limit", async () => {
    const first = await chat("free-signup", bigPrompt);
    expect(first.status).toBe(200);
    const tokens = first.body.usage as { input_tokens: number; output_tokens: number };
    const counted = first.body.counted as Counted[];
    expect(counted.map((c) => c.entitlement).sort()).toEqual(["chat_input", "chat_output"]);
    expect(counted.find((c) => c.entitlement === "chat_input")).toMatchObject({
      amount: tokens.input_tokens,
      used: tokens.input_tokens,
      limit: 100_000,
    });

    const second = await chat("free-signup", bigPrompt);
    expect(second.status).toBe(402);
    expect(second.body).toMatchObject({
      reason: "limit_exceeded",
      entitlement: "chat_input",
      used: tokens.input_tokens,
      limit: 100_000,
      remaining: 100_000 - tokens.input_tokens,
    });
    const resetsAt = Date.parse(second.body.resetsAt as string);
    expect(resetsAt).toBeGreaterThan(Date.now());

    // R4: the denial counted nothing; the usage page shows the recorded call only.
    const rows = await usage("free-signup");
    expect(rows.map((r) => r.entitlement)).toEqual(["chat_input", "chat_output", "api", "mcp_search"]);
    expect(rows.find((r) => r.entitlement === "chat_input")).toEqual({
      entitlement: "chat_input",
      used: tokens.input_tokens,
      held: 0,
      limit: 100_000,
      remaining: 100_000 - tokens.input_tokens,
      resetsAt: second.body.resetsAt,
    });
    expect(rows.find((r) => r.entitlement === "chat_output")?.used).toBe(tokens.output_tokens);
  });

  it("a chat without a customer is a 400 naming where the customer goes", async () => {
    const res = await fetch(`${url}/chat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "hello" }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toContain("x-customer-id");
  });

  it("/search is gated by allow(): the free plan's api rate bucket turns a burst into 429s", async () => {
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${url}/search?q=gpu+prices`, { headers: { "x-customer-id": "free-burst" } }).then(
          (r) => r.status,
        ),
      ),
    );
    const served = statuses.filter((s) => s === 200).length;
    // Capacity 10, refilled at 2 a second: a burst of 20 gets the 10 plus whatever refilled meanwhile.
    expect(served).toBeGreaterThanOrEqual(10);
    expect(served).toBeLessThan(20);
    expect(served + statuses.filter((s) => s === 429).length).toBe(20);
    expect((await usage("free-burst")).find((r) => r.entitlement === "api")?.used).toBe(served);
  });

  it("the usage page renders as HTML for a browser, escaping the customer id", async () => {
    const res = await fetch(`${url}/usage/${encodeURIComponent("<b>x</b>")}`, {
      headers: { accept: "text/html" },
    });
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).toContain("Usage for &lt;b&gt;x&lt;/b&gt;");
    expect(html).not.toContain("<b>x</b>");
    expect(html).toContain("<td>chat_input</td><td>0</td><td>100,000</td><td>100,000</td>");
  });

  it("SIGTERM drains and closes the engine: exit 0, and the store holds every recorded event", async () => {
    const used = (await usage("free-signup")).find((r) => r.entitlement === "chat_input")!.used;
    const searches = (await usage("free-burst")).find((r) => r.entitlement === "api")!.used;
    service.kill("SIGTERM");
    const result = await service;
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("");

    const store = new Database(db, { readonly: true });
    try {
      const events = store.prepare("SELECT type, customer, properties FROM events ORDER BY seq").all() as {
        type: string;
        customer: string;
        properties: string | null;
      }[];
      const completions = events.filter((e) => e.type === "llm.completion");
      expect(completions).toHaveLength(1);
      expect(completions[0]!.customer).toBe("free-signup");
      expect(JSON.parse(completions[0]!.properties!)).toMatchObject({
        model: "gpt-4o-mini",
        input_tokens: used,
      });
      expect(events.filter((e) => e.type === "api.request" && e.customer === "free-burst")).toHaveLength(
        searches,
      );
    } finally {
      store.close();
    }
  });
});
