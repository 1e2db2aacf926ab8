import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { expect, it } from "vitest";
import { POLICIES, serve } from "./serve-process.js";

it("SIGTERM under load: in-flight requests finish, every counted call and record is in the store, exit 0", async () => {
  const db = join(mkdtempSync(join(tmpdir(), "limitr-serve-stop-")), "usage.db");
  const s = await serve(["--policies", POLICIES, "--db", db]);
  const acknowledged: string[] = [];
  let stopping = false;
  let answered = 0;

  async function worker(w: number): Promise<void> {
    for (let i = 0; ; i++) {
      const id = `w${w}-${i}`;
      const record = i % 2 === 1;
      try {
        const r = record
          ? await s.post("/v1/record", {
              id,
              type: "llm.completion",
              customer: `load-${w}`,
              properties: { model: "gpt-4o", input_tokens: 2, output_tokens: 1 },
            })
          : await s.post("/v1/decide", {
              customer: `load-${w}`,
              entitlement: "mcp_search",
              amount: 0.001,
              id,
            });
        if (r.status !== 200) {
          // Only refusals that come with the shutdown are expected.
          expect(r.status).toBe(503);
          return;
        }
        answered++;
        if (record || r.body.allowed === true) acknowledged.push(id);
      } catch {
        if (!stopping) throw new Error(`request ${id} failed before the shutdown`);
        return; // connection refused or closed: the server stopped accepting
      }
    }
  }

  const workers = Array.from({ length: 12 }, (_, w) => worker(w));
  while (answered < 300) await new Promise((r) => setTimeout(r, 10));
  stopping = true;
  const exit = s.stop();
  await Promise.all(workers);
  expect(await exit).toBe(0);
  expect(s.stderr()).toContain("stopped");

  const store = new Database(db, { readonly: true });
  try {
    const stored = new Set(
      (store.prepare("SELECT id FROM events").all() as { id: string }[]).map((r) => r.id),
    );
    const missing = acknowledged.filter((id) => !stored.has(id));
    expect(acknowledged.length).toBeGreaterThanOrEqual(300);
    expect(missing).toEqual([]);
  } finally {
    store.close();
  }
});
