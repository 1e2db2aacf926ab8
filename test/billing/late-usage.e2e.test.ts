import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { limitrInProcess, REPO } from "../cli/run-cli.js";
import { StripeStandIn } from "../helpers/stripe-stand-in.js";

/**
 * §15 late events through `bill --stripe` and the real `stripe` SDK against
 * the local stand-in: a pushed (and finalized) invoice never changes; usage
 * of its period that arrives later is imported and pushed as an adjustment
 * invoice of that period, once.
 */
const CASE = join(REPO, "fixtures", "billing", "late-events-adjustment-invoice");
let dir: string;
let stand: StripeStandIn;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "limitr-late-"));
  mkdirSync(join(dir, "policies"));
  cpSync(join(CASE, "policy.yaml"), join(dir, "policies", "policy.yaml"));
  cpSync(join(CASE, "events.ndjson"), join(dir, "events.ndjson"));
  stand = new StripeStandIn();
  await stand.start();
  expect((await cli("usage", "import", "events.ndjson")).exitCode).toBe(0);
});

afterEach(async () => {
  await stand.stop();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (...args: string[]) => limitrInProcess(["--db", "usage.db", ...args], dir, stand.env());

function lateEvents(name: string, n: number, day = "2026-10-20"): void {
  const rows = Array.from({ length: n }, (_, k) =>
    JSON.stringify({
      id: `${name}-${k}`,
      type: "api.request",
      customer: "acme",
      timestamp: `${day}T10:00:00Z`,
    }),
  );
  writeFileSync(join(dir, `${name}.ndjson`), `${rows.join("\n")}\n`);
}

const byNumber = () =>
  Object.fromEntries(
    [...stand.invoices.values()].map((inv) => [
      inv.metadata.limitr_invoice,
      {
        status: inv.status,
        items: [...stand.items.values()].filter((it) => it.invoice === inv.id).map((it) => it.amount),
      },
    ]),
  );

describe("§15 late events after a bill was pushed to Stripe", () => {
  it("are imported and counted, then pushed as adjustment invoices; the finalized invoice never changes", async () => {
    const first = await cli("bill", "--period", "2026-10", "--stripe", "--finalize");
    expect(first.exitCode, first.stderr).toBe(0);
    expect(byNumber()).toEqual({ "late-2026-10-0001": { status: "open", items: [3100, 100] } });

    // 12 late events in October, 3 in November (not billed yet: not late), 1 a duplicate id of an on-time event.
    lateEvents("late1", 12);
    lateEvents("nov", 3, "2026-11-02");
    writeFileSync(
      join(dir, "dup.ndjson"),
      `${JSON.stringify({ id: "on-time-3", type: "api.request", customer: "acme", timestamp: "2026-10-04T12:00:00Z" })}\n`,
    );
    const imported = await cli(
      "usage",
      "import",
      "late1.ndjson",
      "nov.ndjson",
      "dup.ndjson",
      "--format",
      "json",
    );
    expect(imported.exitCode, imported.stderr).toBe(0);
    const summary = JSON.parse(imported.stdout);
    expect(summary.imported).toBe(15);
    expect(summary.late_events).toEqual({
      total: 12,
      periods: [{ start: "2026-10-01T00:00:00.000Z", end: "2026-11-01T00:00:00.000Z", events: 12 }],
    });
    expect(imported.stderr).toMatch(
      /note: 12 event\(s\) fall in periods already billed and pushed to Stripe/,
    );

    // Billing the period again shows the pushed invoice as pushed, then the adjustment; pushing sends only the adjustment.
    const text = await cli("bill", "--period", "2026-10");
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/Invoice late-2026-10-0001 .*\n\s+pushed to Stripe /);
    expect(text.stdout).toMatch(
      /Invoice late-2026-10-0001-A1 .*\n\s+adjusts late-2026-10-0001 \(pushed to Stripe, unchanged\): 12 event\(s\)/,
    );
    expect(text.stdout).toMatch(/usage\s+Adjustment: calls: 112 x 0\.01, billed 1\s+12\s+0\.12/);
    const second = await cli("bill", "--period", "2026-10", "--stripe", "--format", "json");
    expect(second.exitCode, second.stderr).toBe(0);
    const bill = JSON.parse(second.stdout);
    expect(bill.invoices.map((i: { number: string; total: string }) => [i.number, i.total])).toEqual([
      ["late-2026-10-0001", "32.00"],
      ["late-2026-10-0001-A1", "0.12"],
    ]);
    expect(bill.invoices[0].pushed_at).toEqual(expect.any(String));
    expect(bill.invoices[1]).toMatchObject({ adjusts: "late-2026-10-0001", late_events: 12 });
    expect(bill.totals.total).toBe("32.12");
    expect(byNumber()).toEqual({
      "late-2026-10-0001": { status: "open", items: [3100, 100] },
      "late-2026-10-0001-A1": { status: "draft", items: [12] },
    });

    // A re-run sends nothing; more late usage makes a second adjustment with only the new difference.
    const posts = stand.requests.filter((r) => r.method === "POST").length;
    expect((await cli("bill", "--period", "2026-10", "--stripe")).exitCode).toBe(0);
    expect(stand.requests.filter((r) => r.method === "POST").length).toBe(posts);
    lateEvents("late2", 5, "2026-10-31");
    expect((await cli("usage", "import", "late2.ndjson")).stdout).toMatch(
      /late: 5 event\(s\) in periods already billed and pushed to Stripe/,
    );
    const third = await cli("bill", "--period", "2026-10", "--stripe", "--format", "json");
    expect(third.exitCode, third.stderr).toBe(0);
    expect(
      JSON.parse(third.stdout).invoices.map((i: { number: string; total: string }) => [i.number, i.total]),
    ).toEqual([
      ["late-2026-10-0001", "32.00"],
      ["late-2026-10-0001-A1", "0.12"],
      ["late-2026-10-0001-A2", "0.05"],
    ]);
    expect(byNumber()).toEqual({
      "late-2026-10-0001": { status: "open", items: [3100, 100] },
      "late-2026-10-0001-A1": { status: "draft", items: [12] },
      "late-2026-10-0001-A2": { status: "draft", items: [5] },
    });
  });

  it("usage that only a bill not pushed to Stripe covered is not late: the bill is simply rated again", async () => {
    expect((await cli("bill", "--period", "2026-10")).exitCode).toBe(0);
    lateEvents("after", 4);
    const imported = await cli("usage", "import", "after.ndjson", "--format", "json");
    expect(JSON.parse(imported.stdout).late_events).toEqual({ total: 0, periods: [] });
    const again = JSON.parse((await cli("bill", "--period", "2026-10", "--format", "json")).stdout);
    expect(again.invoices.map((i: { number: string; total: string }) => [i.number, i.total])).toEqual([
      ["late-2026-10-0001", "32.04"],
    ]);
  });
});
