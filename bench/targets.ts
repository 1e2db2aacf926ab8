/**
 * The performance targets, each read from its suite's JSON summary line: the
 * figure, what it is measured against in the same run, the goal, and whether
 * the run met it. `npm run bench` prints the verdicts after the suites (a
 * table on stderr, a `{"bench": "targets", ...}` JSON line on stdout), so a
 * run says which targets it met and by how much it missed the others.
 * docs/performance.md, "Targets at a glance", quotes them.
 */

/** A suite's summary line: `{"bench": NAME, "results": {...}}`, or `{"bench": NAME, "skipped": WHY}`. */
export interface SuiteLine {
  bench: string;
  results?: Record<string, unknown>;
  skipped?: string;
}

export interface Target {
  /** What is measured, as docs/performance.md names it. */
  figure: string;
  suite: string;
  /** Where the figure is in the suite's results (dots for nested objects). */
  key: string;
  /** The baseline measured in the same run that the figure is a ratio of (or is compared with), if any. */
  baseline?: string;
  /** The figure must be at least `min`, at most `max`, or below `below`. */
  goal: { min: number } | { max: number } | { below: number };
  /** How the figure reads: "x" for a ratio, else a unit. */
  unit: string;
  /** Why the suite may print no figure (an optional reference not installed). */
  absent?: string;
}

export interface Verdict {
  figure: string;
  suite: string;
  value: number | null;
  baseline: { key: string; value: number | null } | null;
  goal: string;
  /** null: not measured in this run (see `note`). */
  met: boolean | null;
  note?: string;
}

const ENGINE = "engine";
const STARTUP = "startup";

export const TARGETS: readonly Target[] = [
  {
    figure: "memory allow() vs the reference loop",
    suite: ENGINE,
    key: "allow_vs_reference",
    baseline: "reference_loop_ops_s",
    goal: { min: 2 },
    unit: "x",
  },
  {
    figure: "memory allow() vs rate-limiter-flexible",
    suite: ENGINE,
    key: "allow_vs_peer",
    baseline: "peer_rlf_memory_ops_s",
    goal: { min: 5 },
    unit: "x",
  },
  { figure: "allow() p99", suite: ENGINE, key: "allow_p99_ns", goal: { below: 1000 }, unit: "ns" },
  {
    figure: "SQLite batched allow() vs raw inserts",
    suite: ENGINE,
    key: "sqlite_batched_vs_raw",
    baseline: "raw_sqlite_batched_ops_s",
    goal: { min: 0.8 },
    unit: "x",
  },
  {
    figure: "usage import vs the plain import script",
    suite: "import",
    key: "import_vs_plain",
    baseline: "plain_events_s",
    goal: { min: 2 },
    unit: "x",
  },
  {
    figure: "usage import rate (2 cores)",
    suite: "import",
    key: "import_events_s",
    goal: { min: 300_000 },
    unit: "events/s",
  },
  {
    figure: "bill over 10M events vs raw SQL aggregation",
    suite: "bill",
    key: "bill_10m_vs_raw_groupby",
    baseline: "raw_groupby_10m_s",
    goal: { max: 0.25 },
    unit: "x",
  },
  {
    figure: "bill over 10M events vs DuckDB (optional)",
    suite: "bill",
    key: "bill_10m_vs_duckdb",
    baseline: "duckdb_query_10m_s",
    goal: { below: 1 },
    unit: "x",
    absent: "optional: measured when @duckdb/node-api is installed (npm i --no-save @duckdb/node-api)",
  },
  {
    figure: "bill over 10M events, peak RSS",
    suite: "bill",
    key: "bill_10m_peak_rss_mb",
    goal: { max: 300 },
    unit: "MB",
  },
  {
    figure: "simulate vs one bill",
    suite: "simulate",
    key: "simulate_to_bill",
    baseline: "bill_10m_s",
    goal: { max: 1.5 },
    unit: "x",
  },
  {
    figure: "first limitr validate vs node -e 0 (CPU)",
    suite: STARTUP,
    key: "validate_cold_cpu_ratio",
    baseline: "node_cpu_s",
    goal: { max: 2.5 },
    unit: "x",
  },
  {
    figure: "cached limitr validate vs node -e 0 (CPU)",
    suite: STARTUP,
    key: "validate_cpu_ratio",
    baseline: "node_cpu_s",
    goal: { max: 2.5 },
    unit: "x",
  },
  {
    figure: "Limitr.open call, policy directory, first run",
    suite: STARTUP,
    key: "open_cold_call_cpu_s",
    goal: { max: 0.06 },
    unit: "s CPU",
  },
  {
    figure: "Limitr.open call, policy directory, cached",
    suite: STARTUP,
    key: "open_call_cpu_s",
    goal: { max: 0.06 },
    unit: "s CPU",
  },
  {
    figure: "Limitr.open call, bundle, first run",
    suite: STARTUP,
    key: "open_bundle_cold_call_cpu_s",
    goal: { max: 0.06 },
    unit: "s CPU",
  },
  {
    figure: "prepaid allow(), money wallet, vs hard-limit allow()",
    suite: "wallet",
    key: "ratio",
    baseline: "hardAllowOpsPerSec",
    goal: { min: 0.5 },
    unit: "x",
  },
  {
    figure: "prepaid allow(), credit wallet, vs hard-limit allow()",
    suite: "wallet",
    key: "creditWalletRatio",
    baseline: "hardAllowOpsPerSec",
    goal: { min: 0.5 },
    unit: "x",
  },
  ...[1, 2, 4].flatMap((n): Target[] => [
    {
      figure: `shared hard limits on Redis leases, ${n} process${n > 1 ? "es" : ""}, vs the memory store`,
      suite: "shared",
      key: `processes${n}.vsMemory`,
      baseline: `processes${n}.memoryOpsPerCpuS`,
      goal: { min: 0.5 },
      unit: "x",
    },
    {
      figure: `shared hard limits, ${n} process${n > 1 ? "es" : ""}, vs one INCRBY a call`,
      suite: "shared",
      key: `processes${n}.vsNaivePeer`,
      baseline: `processes${n}.naivePeerWallOpsS`,
      goal: { min: 20 },
      unit: "x",
    },
    {
      figure: `shared hard limits, ${n} process${n > 1 ? "es" : ""}, Redis calls per 1,000 decisions`,
      suite: "shared",
      key: `processes${n}.redisCallsPer1000`,
      goal: { max: 10 },
      unit: "calls",
    },
  ]),
  {
    figure: "Postgres import with rollups vs raw COPY",
    suite: "postgres",
    key: "insert_vs_copy",
    baseline: "raw_copy_rows_s",
    goal: { min: 0.5 },
    unit: "x",
  },
  {
    figure: "Postgres bill's usage read (rollups) vs raw GROUP BY",
    suite: "postgres",
    key: "rollups_vs_groupby",
    baseline: "raw_groupby_s",
    goal: { max: 1.5 },
    unit: "x",
  },
];

/** The value at `path` (dots for nested objects) when it is a finite number, else null. */
function at(results: Record<string, unknown>, path: string): number | null {
  let v: unknown = results;
  for (const part of path.split(".")) {
    if (v === null || typeof v !== "object") return null;
    v = (v as Record<string, unknown>)[part];
  }
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function goalText(t: Target): string {
  const g = t.goal;
  return "min" in g
    ? `>= ${g.min} ${t.unit}`
    : "max" in g
      ? `<= ${g.max} ${t.unit}`
      : `< ${g.below} ${t.unit}`;
}

function meets(value: number, g: Target["goal"]): boolean {
  return "min" in g ? value >= g.min : "max" in g ? value <= g.max : value < g.below;
}

/** Each target's verdict from the suites' summary lines (the last line of a suite counts). */
export function verdicts(lines: readonly SuiteLine[], targets: readonly Target[] = TARGETS): Verdict[] {
  const bySuite = new Map(lines.map((l) => [l.bench, l]));
  return targets.map((t) => {
    const line = bySuite.get(t.suite);
    const base = { figure: t.figure, suite: t.suite, goal: goalText(t) };
    if (line === undefined) return { ...base, value: null, baseline: null, met: null, note: "suite not run" };
    if (line.results === undefined)
      return {
        ...base,
        value: null,
        baseline: null,
        met: null,
        note: `suite skipped: ${line.skipped ?? "no results"}`,
      };
    const value = at(line.results, t.key);
    const baseline =
      t.baseline === undefined ? null : { key: t.baseline, value: at(line.results, t.baseline) };
    if (value === null)
      return { ...base, value, baseline, met: null, note: t.absent ?? `no figure ${t.key} in this run` };
    return { ...base, value, baseline, met: meets(value, t.goal) };
  });
}

/** The verdicts as a plain-text table, one target a line; the last column is the baseline, or why there is no figure. */
export function verdictTable(list: readonly Verdict[]): string {
  const rows = list.map((v) => [
    v.met === null ? "-" : v.met ? "met" : "MISSED",
    v.figure,
    v.value === null ? "-" : String(v.value),
    v.goal,
    v.value === null
      ? (v.note ?? "")
      : v.baseline === null
        ? ""
        : `${v.baseline.key} ${v.baseline.value ?? "?"}`,
  ]);
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => (r[c] as string).length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (c < widths.length ? cell.padEnd(widths[c] as number) : cell))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** The suite summary lines in a suite's standard output (lines that parse as `{"bench": ...}`). */
export function summaryLines(stdout: string): SuiteLine[] {
  const out: SuiteLine[] = [];
  for (const line of stdout.split("\n")) {
    if (!line.startsWith('{"bench"')) continue;
    try {
      const parsed = JSON.parse(line) as SuiteLine;
      if (typeof parsed.bench === "string") out.push(parsed);
    } catch {
      // A line that only looks like a summary: not one.
    }
  }
  return out;
}
