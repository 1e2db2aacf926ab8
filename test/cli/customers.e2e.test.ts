import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { limitr } from "./run-cli.js";

let dir: string;
let db: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "limitr-customers-"));
  db = join(dir, "usage.db");
});
const run = (...args: string[]) => limitr(["--db", db, ...args]);

describe("limitr customers", () => {
  it("set records plan history; list shows the plan in force and whether it comes from the policy or the store", async () => {
    expect((await run("customers", "set", "cust-a", "--plan", "free", "--at", "2026-09-01")).exitCode).toBe(
      0,
    );
    expect(
      (await run("customers", "set", "cust-a", "--plan", "pro", "--at", "2026-10-15T09:00")).exitCode,
    ).toBe(0);
    // A contract in the policy wins over the store.
    const contract = await run("customers", "set", "globex", "--plan", "free", "--at", "2026-10-01");
    expect(contract.exitCode).toBe(0);
    expect(contract.stderr).toContain("contract plan (pro) in the policy, which wins");

    const list = async (at: string) =>
      Object.fromEntries(
        JSON.parse((await run("customers", "list", "--at", at, "--format", "json")).stdout).customers.map(
          (c: { customer: string; plan: string; source: string }) => [c.customer, `${c.plan}/${c.source}`],
        ),
      );
    const oct10 = await list("2026-10-10");
    expect(oct10["cust-a"]).toBe("free/store");
    expect(oct10.globex).toBe("pro/policy");
    expect(oct10["acme-research"]).toBe("enterprise/policy");
    // The change day belongs to the new plan (R11): from the start of Oct 15 in the policy timezone.
    expect((await list("2026-10-15T00:30"))["cust-a"]).toBe("pro/store");

    const text = await run("customers", "list", "--at", "2026-10-20");
    expect(text.stdout).toMatch(
      /^CUSTOMER\s+PLAN\s+ADD-ONS\s+SOURCE\s+PARENT\s+SINCE\s+CHANGES\s+CURRENCY$/m,
    );
    expect(text.stdout).toMatch(
      /^acme-research\s+enterprise\s+-\s+policy\s+acme-holdings\s+2026-03-01\s+0\s+USD$/m,
    );
  });

  it("import loads a plan-history CSV in one transaction; a bad row imports nothing", async () => {
    const good = join(dir, "plans.csv");
    writeFileSync(
      good,
      "customer,plan,at,stripe_customer_id\nc1,free,2026-09-01,\nc1,pro,2026-10-12,cus_c1\nc2,pro,2026-10-05,\n",
    );
    const r = await run("customers", "import", good);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe("recorded 3 plan changes for 2 customers");

    const bad = join(dir, "bad.csv");
    writeFileSync(bad, "customer,plan,at\nc3,pro,2026-10-01\nc4,platinum,2026-10-01\n");
    const b = await run("customers", "import", bad);
    expect(b.exitCode).toBe(1);
    expect(b.stderr).toContain(`${bad}:3: unknown plan "platinum"`);
    const customers = JSON.parse((await run("customers", "list", "--format", "json")).stdout).customers;
    expect(customers.map((c: { customer: string }) => c.customer)).not.toContain("c3");
    expect(customers.find((c: { customer: string }) => c.customer === "c1").stripe_customer_id).toBe(
      "cus_c1",
    );
  });

  it("an unknown plan or a bad --at is a usage error (exit 64)", async () => {
    expect((await run("customers", "set", "x", "--plan", "platinum")).exitCode).toBe(64);
    expect((await run("customers", "set", "x", "--plan", "pro", "--at", "soon")).exitCode).toBe(64);
  });
});
