import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBill } from "limitr-engine/adapters/store/bill-run";
import { openDatabase } from "limitr-engine/adapters/store/database";
import type { Hold } from "limitr-engine/core/engine/decision";
import type { CompiledPolicy } from "limitr-engine/core/model";
import { parseInstant, parsePeriod } from "limitr-engine/core/periods";
import { matchInvoice } from "limitr-engine/core/policy-tests/invoice-view";
import { type Mismatch, matchFields } from "limitr-engine/core/policy-tests/match";
import type {
  CaseResult,
  Failure,
  FailurePlace,
  Step,
  TestCase,
} from "limitr-engine/core/policy-tests/model";
import { Limitr } from "limitr-engine/runtime/limitr";

/**
 * Run one policy test case in isolation: a fresh SQLite store in a temp
 * directory, the engine's public API for each step (time comes from the
 * step, never the wall clock), then `limitr bill`'s own rating over what the
 * engine recorded. Exceptions become failures of the step that raised them.
 */
export async function runCase(policy: CompiledPolicy, test: TestCase): Promise<CaseResult> {
  const started = performance.now();
  const zone = policy.timezone;
  const failures: Failure[] = [];
  const fail = (step: FailurePlace, line: number, ms: Mismatch[]) => {
    for (const { line: fieldLine, ...m } of ms) failures.push({ step, line, fieldLine, ...m });
  };
  const dir = mkdtempSync(join(tmpdir(), "limitr-test-"));
  const dbPath = join(dir, "usage.db");
  let now = 0;
  let engine: Limitr | null = null;
  const holds = new Map<string, Hold | null>();
  try {
    engine = await Limitr.open({
      policy,
      store: `sqlite:${dbPath}`,
      durability: "batched",
      now: () => now,
      alerts: false,
    });
    for (const c of test.customers) {
      const at = parseInstant(c.at, zone);
      if (at === null) {
        fail("customers", c.line, [badTime(`customers.${c.id}.at`, c.line, c.at)]);
        continue;
      }
      now = at;
      const error = attempt(() =>
        engine?.setPlan(c.id, c.plan, { at, ...(c.addOns ? { addOns: c.addOns } : {}) }),
      );
      if (error)
        fail("customers", c.line, [
          { field: `customers.${c.id}`, line: c.line, expected: `plan ${c.plan}`, got: error },
        ]);
    }
    for (const step of test.steps) {
      const at = parseInstant(step.at, zone);
      if (at === null) {
        fail(step.index, step.line, [badTime("at", step.line, step.at)]);
        continue;
      }
      let got: Record<string, unknown> | undefined;
      const error = attempt(() => {
        for (let i = 0; i < step.repeat; i++) {
          now = at + i * step.everyMs;
          got = perform(engine as Limitr, step, now, holds);
        }
      });
      if (error !== null) {
        fail(step.index, step.line, [{ field: "error", line: step.line, expected: "no error", got: error }]);
      } else if (got) fail(step.index, step.line, matchFields(step.expect, got, zone));
    }
    await engine.close();
    if (test.invoice) fail("invoice", test.invoice.line, await billAndMatch(policy, dbPath, test.invoice));
  } catch (err) {
    fail("case", test.line, [
      { field: "error", line: test.line, expected: "no error", got: (err as Error).message },
    ]);
  } finally {
    await engine?.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    name: test.name,
    description: test.description,
    file: test.file,
    line: test.line,
    status: failures.length === 0 ? "passed" : "failed",
    failures,
    durationMs: Math.round(performance.now() - started),
  };
}

function perform(
  engine: Limitr,
  step: Step,
  now: number,
  holds: Map<string, Hold | null>,
): Record<string, unknown> {
  const a = step.action;
  switch (a.kind) {
    case "reserve": {
      const hold = engine.reserve(a.customer, a.entitlement, a.amount, { now, ttlMs: a.ttlMs });
      if (a.as) holds.set(a.as, hold);
      return { granted: hold !== null };
    }
    case "settle":
    case "release": {
      const hold = holds.get(a.hold);
      if (!hold) throw new Error(`hold "${a.hold}" was not granted, so it cannot be ${a.kind}d`);
      if (a.kind === "release") return { released: engine.release(hold, { now }) };
      return { ...engine.settle(hold, a.actual, { now }) };
    }
    case "call":
      return {
        ...engine.decide(a.customer, a.entitlement, a.amount, { now, id: a.id, properties: a.properties }),
      };
    case "check":
      return { ...engine.check(a.customer, a.entitlement, a.amount, { now, id: a.id }) };
    case "usage":
      return { ...engine.usage(a.customer, a.entitlement, { now }) };
    case "plan":
      engine.setPlan(a.customer, a.plan, { at: now, ...(a.addOns ? { addOns: a.addOns } : {}) });
      return {};
    case "event": {
      const { kind: _, ...event } = a;
      const r = engine.record({ ...event, timestamp: a.timestamp ?? now });
      const counted: Record<string, number> = {};
      for (const c of r.counted) counted[c.entitlement] = (counted[c.entitlement] ?? 0) + c.amount;
      return { duplicate: r.duplicate, counted };
    }
  }
}

async function billAndMatch(
  policy: CompiledPolicy,
  dbPath: string,
  spec: NonNullable<TestCase["invoice"]>,
): Promise<Mismatch[]> {
  const period = parsePeriod(spec.period, policy.timezone);
  if (!period) {
    return [
      { field: "invoice.period", line: spec.line, expected: "2026-10, 2026-Q4 or 2026", got: spec.period },
    ];
  }
  const db = openDatabase(dbPath, { create: true });
  try {
    // `await` serves runBill whether it reads the store synchronously or in workers.
    const bill = await runBill(db, policy, period, { recordCredits: false });
    return spec.expect.flatMap((e) =>
      matchInvoice(
        e,
        bill.invoices.find((i) => i.customer === e.customer),
        policy.currencyDigits,
        policy.timezone,
      ),
    );
  } finally {
    db.close();
  }
}

function attempt(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function badTime(field: string, line: number, text: string): Mismatch {
  return { field, line, expected: "an ISO-8601 time", got: text };
}
