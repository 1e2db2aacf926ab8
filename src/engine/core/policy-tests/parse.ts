import { parseInstant } from "../periods.js";
import type { Diagnostic } from "../policy/diagnostics.js";
import { type Location, locate, pointer } from "../policy/locations.js";
import { type PolicyFile, parseFragment } from "../policy/source.js";
import { didYouMean } from "../policy/suggest.js";
import { fieldsFor, INVOICE_FIELDS, LINE_FIELDS, STEP_KINDS, type StepKind } from "./fields.js";
import type {
  Action,
  Expected,
  ExpectedField,
  InvoiceExpectation,
  InvoiceSpec,
  Step,
  StoreCustomer,
  TestCase,
} from "./model.js";

/**
 * Parse one test file into cases, or located diagnostics (file:line:col).
 * Shape only: whether a plan or entitlement exists is the policy's business,
 * checked when the case runs, so a test may pin how unknown names are denied.
 */
export interface ParsedTestFile {
  file: string;
  cases: TestCase[];
  diagnostics: Diagnostic[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

class Reader {
  readonly diagnostics: Diagnostic[] = [];
  constructor(
    readonly file: string,
    private readonly locations: Map<string, Location>,
    private readonly numbers: Map<string, string>,
  ) {}

  line(ptr: string): number {
    return locate(this.locations, ptr)?.value.line ?? 1;
  }

  keyLine(ptr: string): number {
    const loc = locate(this.locations, ptr);
    return loc?.key?.line ?? loc?.value.line ?? 1;
  }

  error(ptr: string, message: string, hint?: string, atKey = false): void {
    const loc = locate(this.locations, ptr);
    const pos = (atKey ? loc?.key : undefined) ?? loc?.value ?? { line: 1, column: 1 };
    this.diagnostics.push({
      severity: "error",
      code: "test/invalid",
      message,
      file: this.file,
      line: pos.line,
      column: pos.column,
      path: ptr.slice(1).replaceAll("/", "."),
      ...(hint ? { hint } : {}),
    });
  }

  /** Report keys outside `allowed`; true when every key is known. */
  keys(value: Obj, ptr: string, allowed: readonly string[], what: string): boolean {
    let ok = true;
    for (const k of Object.keys(value)) {
      if (allowed.includes(k)) continue;
      ok = false;
      this.error(
        `${ptr}${pointer([k])}`,
        `unknown ${what} "${k}" (expected one of: ${allowed.join(", ")})`,
        didYouMean(k, allowed),
        true,
      );
    }
    return ok;
  }

  map(value: unknown, ptr: string, what: string): Obj | null {
    if (isObj(value)) return value;
    this.error(ptr, `${what} must be a map`);
    return null;
  }

  /** `add_ons`: a list of add-on plan ids, or undefined when absent. */
  addOns(value: unknown, ptr: string): string[] | undefined {
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) {
      this.error(ptr, "add_ons must be a list of add-on plan ids");
      return undefined;
    }
    const out: string[] = [];
    value.forEach((v, i) => {
      const id = this.string(v, `${ptr}/${i}`, "an add-on");
      if (id) out.push(id);
    });
    return out;
  }

  string(value: unknown, ptr: string, what: string): string | null {
    if (typeof value === "string" && value !== "") return value;
    this.error(ptr, `${what} must be a non-empty string${value === undefined ? " (missing)" : ""}`);
    return null;
  }

  /** An ISO-8601 time or date; offset-less values are read in the policy timezone when the case runs. */
  time(value: unknown, ptr: string): string | null {
    if (value === undefined) {
      this.error(ptr, "`at` is required: the time of the step (ISO-8601)");
      return null;
    }
    // Epoch milliseconds are a time too; keep their source text.
    const text =
      typeof value === "number" ? (this.numbers.get(ptr) ?? String(value)) : this.string(value, ptr, "`at`");
    if (text === null) return null;
    if (parseInstant(text, "UTC") !== null) return text;
    this.error(
      ptr,
      `"${text}" is not an ISO-8601 time`,
      "write 2026-10-02T10:00:00Z, or 2026-10-02 for midnight",
    );
    return null;
  }

  number(value: unknown, ptr: string, what: string): number | null {
    if (typeof value === "number" && Number.isFinite(value)) return value;
    this.error(ptr, `${what} must be a number${value === undefined ? " (missing)" : ""}`);
    return null;
  }

  properties(value: unknown, ptr: string): Record<string, string | number | boolean> | undefined {
    if (value === undefined) return undefined;
    const m = this.map(value, ptr, "properties");
    if (!m) return undefined;
    const out: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(m)) {
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[k] = v;
      else this.error(`${ptr}${pointer([k])}`, `property "${k}" must be a string, number or boolean`);
    }
    return out;
  }

  expected(value: unknown, ptr: string): Expected {
    if (value === null || value === undefined) return { kind: "null" };
    if (typeof value === "boolean") return { kind: "boolean", value };
    if (typeof value === "number") return { kind: "number", text: this.numbers.get(ptr) ?? String(value) };
    if (typeof value === "string") return { kind: "string", value };
    if (isObj(value)) return { kind: "map", fields: this.fields(value, ptr) };
    this.error(ptr, "an expected value must be a scalar or a map");
    return { kind: "null" };
  }

  fields(value: Obj, ptr: string): ExpectedField[] {
    return Object.entries(value).map(([name, v]) => {
      const p = `${ptr}${pointer([name])}`;
      return { name, value: this.expected(v, p), line: this.keyLine(p) };
    });
  }
}

export function parseTestFile(file: PolicyFile): ParsedTestFile {
  const fragment = parseFragment(file);
  // The shared YAML stage speaks of policy sections; a test file has one key.
  const diagnostics = fragment.diagnostics.map((d) =>
    d.code === "yaml/not-a-map" ? { ...d, message: "a test file must be a map with one key, `tests:`" } : d,
  );
  const out: ParsedTestFile = { file: file.path, cases: [], diagnostics };
  if (out.diagnostics.some((d) => d.severity === "error")) return out;
  const r = new Reader(file.path, fragment.locations, fragment.numbers);
  const root = fragment.value;
  if (!root || !isObj(root.tests)) {
    r.error(root ? "/tests" : "", "a test file needs a `tests:` map of named cases");
    out.diagnostics.push(...r.diagnostics);
    return out;
  }
  r.keys(root, "", ["tests"], "top-level key");
  for (const [name, raw] of Object.entries(root.tests)) {
    const c = readCase(r, name, raw, `/tests${pointer([name])}`);
    if (c) out.cases.push(c);
  }
  out.diagnostics.push(...r.diagnostics);
  return out;
}

function readCase(r: Reader, name: string, raw: unknown, ptr: string): TestCase | null {
  const v = r.map(raw, ptr, `test "${name}"`);
  if (!v) return null;
  r.keys(v, ptr, ["description", "customers", "steps", "invoice"], "test key");
  const description =
    v.description === undefined ? null : r.string(v.description, `${ptr}/description`, "description");
  const customers: StoreCustomer[] = [];
  if (v.customers !== undefined) {
    const m = r.map(v.customers, `${ptr}/customers`, "customers");
    for (const [id, spec] of Object.entries(m ?? {})) {
      const p = `${ptr}/customers${pointer([id])}`;
      const s = r.map(spec, p, `customer "${id}"`);
      if (!s) continue;
      r.keys(s, p, ["plan", "at", "add_ons"], "customer key");
      const plan = r.string(s.plan, `${p}/plan`, "plan");
      const at = r.time(s.at, `${p}/at`);
      const addOns = r.addOns(s.add_ons, `${p}/add_ons`);
      if (plan && at) customers.push({ id, plan, at, line: r.keyLine(p), ...(addOns ? { addOns } : {}) });
    }
  }
  const steps: Step[] = [];
  if (!Array.isArray(v.steps) && v.invoice === undefined)
    r.error(ptr, "a test needs `steps:` (a list), `invoice:` or both");
  if (v.steps !== undefined && !Array.isArray(v.steps)) r.error(`${ptr}/steps`, "steps must be a list");
  if (Array.isArray(v.steps)) {
    const holds = new Set<string>();
    v.steps.forEach((s, i) => {
      const step = readStep(r, s, `${ptr}/steps/${i}`, i + 1, holds);
      if (step) steps.push(step);
    });
  }
  const invoice = v.invoice === undefined ? null : readInvoice(r, v.invoice, `${ptr}/invoice`);
  return { name, description, file: r.file, line: r.keyLine(ptr), customers, steps, invoice };
}

function readStep(r: Reader, raw: unknown, ptr: string, index: number, holds: Set<string>): Step | null {
  const v = r.map(raw, ptr, `step ${index}`);
  if (!v) return null;
  r.keys(v, ptr, ["at", "repeat", "every", "expect", ...STEP_KINDS], "step key");
  const kinds = STEP_KINDS.filter((k) => v[k] !== undefined);
  if (kinds.length !== 1) {
    r.error(
      ptr,
      `step ${index} needs exactly one of ${STEP_KINDS.join(", ")} (got ${kinds.length || "none"})`,
    );
    return null;
  }
  const kind = kinds[0] as StepKind;
  const at = r.time(v.at, `${ptr}/at`);
  const action = readAction(r, kind, v[kind], `${ptr}/${kind}`, holds);
  let expect: ExpectedField[] = [];
  if (v.expect !== undefined) {
    const e = r.map(v.expect, `${ptr}/expect`, "expect");
    if (e && r.keys(e, `${ptr}/expect`, fieldsFor(kind), `${kind} expectation`))
      expect = r.fields(e, `${ptr}/expect`);
  }
  let repeat = 1;
  if (v.repeat !== undefined) {
    if (Number.isInteger(v.repeat) && (v.repeat as number) >= 1 && (v.repeat as number) <= 100_000)
      repeat = v.repeat as number;
    else r.error(`${ptr}/repeat`, "repeat must be a whole number from 1 to 100000");
  }
  let everyMs = 0;
  if (v.every !== undefined) {
    const ms = durationMs(v.every);
    if (ms === null) r.error(`${ptr}/every`, "every must be a duration such as 500ms, 5s, 10m, 1h or 1d");
    else everyMs = ms;
  }
  if (!at || !action) return null;
  return { index, line: r.line(ptr), at, action, repeat, everyMs, expect };
}

function readAction(r: Reader, kind: StepKind, raw: unknown, ptr: string, holds: Set<string>): Action | null {
  const v = r.map(raw, ptr, kind);
  if (!v) return null;
  if (kind === "settle" || kind === "release") return readHoldAction(r, kind, v, ptr, holds);
  const customer = r.string(v.customer, `${ptr}/customer`, "customer");
  switch (kind) {
    case "call":
    case "check": {
      r.keys(v, ptr, ["customer", "entitlement", "amount", "id", "properties"], `${kind} key`);
      const entitlement = r.string(v.entitlement, `${ptr}/entitlement`, "entitlement");
      const amount = v.amount === undefined ? 1 : r.number(v.amount, `${ptr}/amount`, "amount");
      const id = v.id === undefined ? undefined : (r.string(v.id, `${ptr}/id`, "id") ?? undefined);
      const properties = r.properties(v.properties, `${ptr}/properties`);
      if (!customer || !entitlement || amount === null) return null;
      return {
        kind,
        customer,
        entitlement,
        amount,
        ...(id ? { id } : {}),
        ...(properties ? { properties } : {}),
      };
    }
    case "event": {
      r.keys(v, ptr, ["type", "customer", "id", "timestamp", "value", "properties"], "event key");
      const type = r.string(v.type, `${ptr}/type`, "type");
      const id = v.id === undefined ? undefined : (r.string(v.id, `${ptr}/id`, "id") ?? undefined);
      const value =
        v.value === undefined ? undefined : (r.number(v.value, `${ptr}/value`, "value") ?? undefined);
      let timestamp: string | number | undefined;
      if (typeof v.timestamp === "number" || typeof v.timestamp === "string") timestamp = v.timestamp;
      else if (v.timestamp !== undefined)
        r.error(`${ptr}/timestamp`, "timestamp must be ISO-8601 or epoch ms");
      const properties = r.properties(v.properties, `${ptr}/properties`);
      if (!customer || !type) return null;
      return {
        kind,
        type,
        customer,
        ...(id ? { id } : {}),
        ...(timestamp !== undefined ? { timestamp } : {}),
        ...(value !== undefined ? { value } : {}),
        ...(properties ? { properties } : {}),
      };
    }
    case "usage": {
      r.keys(v, ptr, ["customer", "entitlement"], "usage key");
      const entitlement = r.string(v.entitlement, `${ptr}/entitlement`, "entitlement");
      return customer && entitlement ? { kind, customer, entitlement } : null;
    }
    case "plan": {
      r.keys(v, ptr, ["customer", "plan", "add_ons"], "plan key");
      const plan = r.string(v.plan, `${ptr}/plan`, "plan");
      const addOns = r.addOns(v.add_ons, `${ptr}/add_ons`);
      return customer && plan ? { kind, customer, plan, ...(addOns ? { addOns } : {}) } : null;
    }
    case "reserve": {
      r.keys(v, ptr, ["customer", "entitlement", "amount", "ttl", "as"], "reserve key");
      const entitlement = r.string(v.entitlement, `${ptr}/entitlement`, "entitlement");
      const amount = r.number(v.amount, `${ptr}/amount`, "amount");
      let ttlMs: number | undefined;
      if (v.ttl !== undefined) {
        ttlMs = durationMs(v.ttl) ?? undefined;
        if (ttlMs === undefined) r.error(`${ptr}/ttl`, "ttl must be a duration such as 30s, 15m or 1h");
      }
      const as =
        v.as === undefined
          ? undefined
          : (r.string(v.as, `${ptr}/as`, "as (a name for the hold)") ?? undefined);
      if (as) holds.add(as);
      if (!customer || !entitlement || amount === null) return null;
      return { kind, customer, entitlement, amount, ...(ttlMs ? { ttlMs } : {}), ...(as ? { as } : {}) };
    }
  }
}

/** `settle` and `release` name a hold an earlier `reserve` of the same case took with `as`. */
function readHoldAction(
  r: Reader,
  kind: "settle" | "release",
  v: Obj,
  ptr: string,
  holds: ReadonlySet<string>,
): Action | null {
  r.keys(v, ptr, kind === "settle" ? ["hold", "actual"] : ["hold"], `${kind} key`);
  const hold = r.string(v.hold, `${ptr}/hold`, "hold");
  if (hold && !holds.has(hold)) {
    r.error(`${ptr}/hold`, `no earlier reserve step names a hold "${hold}"`, didYouMean(hold, holds), false);
    return null;
  }
  if (kind === "release") return hold ? { kind, hold } : null;
  const actual = r.number(v.actual, `${ptr}/actual`, "actual");
  return hold && actual !== null ? { kind, hold, actual } : null;
}

function readInvoice(r: Reader, raw: unknown, ptr: string): InvoiceSpec | null {
  const v = r.map(raw, ptr, "invoice");
  if (!v) return null;
  r.keys(v, ptr, ["period", "expect"], "invoice key");
  const period = r.string(v.period, `${ptr}/period`, "period (2026-10, 2026-Q4, 2026)");
  const e = r.map(v.expect, `${ptr}/expect`, "invoice expect (customer -> fields)");
  const expect: InvoiceExpectation[] = [];
  for (const [customer, fields] of Object.entries(e ?? {})) {
    const p = `${ptr}/expect${pointer([customer])}`;
    if (fields === null) {
      expect.push({ customer, line: r.keyLine(p), fields: null });
      continue;
    }
    const m = r.map(fields, p, `expected invoice of ${customer} (or null for none)`);
    if (!m || !r.keys(m, p, INVOICE_FIELDS, "invoice field")) continue;
    if (m.lines !== undefined) {
      const lines = r.map(m.lines, `${p}/lines`, "lines (entitlement or line kind -> amount)");
      for (const [k, l] of Object.entries(lines ?? {})) {
        if (isObj(l)) r.keys(l, `${p}/lines${pointer([k])}`, LINE_FIELDS, "line field");
      }
    }
    expect.push({ customer, line: r.keyLine(p), fields: r.fields(m, p) });
  }
  if (!period) return null;
  return { period, line: r.keyLine(ptr), expect };
}

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

function durationMs(value: unknown): number | null {
  const m = typeof value === "string" ? /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim()) : null;
  if (!m) return null;
  return Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]);
}
