import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { expect, it } from "vitest";
import { REPO } from "../cli/run-cli.js";
import { POLICIES, serve } from "./serve-process.js";

it("the stdlib Python client does Check -> Call -> Record and reads usage against limitr serve", async () => {
  const db = join(mkdtempSync(join(tmpdir(), "limitr-serve-py-")), "usage.db");
  const s = await serve(["--policies", POLICIES, "--db", db]);
  try {
    const r = await execa("python3", [join(REPO, "examples/python/limitr_client.py"), s.url, "py-co"], {
      reject: false,
    });
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const steps = String(r.stdout)
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(steps).toEqual([
      { step: "check", allowed: true, remaining: 100000 },
      {
        step: "record",
        duplicate: false,
        counted: [
          { entitlement: "chat_input", amount: 1180, used: 1180, limit: 100000, overage: 0 },
          { entitlement: "chat_output", amount: 240, used: 240, limit: 50000, overage: 0 },
        ],
      },
      { step: "record", duplicate: true, counted: [] },
      {
        step: "usage",
        chat_input: expect.objectContaining({ used: 1180, held: 0, limit: 100000, remaining: 98820 }),
      },
      { step: "meter", rows: [{ meter: "input_tokens", customer: "py-co", value: "1180", events: 1 }] },
      { step: "error", status: 404, code: "unknown_hold" },
    ]);
  } finally {
    expect(await s.stop()).toBe(0);
  }
});
