import type { ChalkInstance } from "chalk";
import { shortDigest } from "limitr-engine/core/bundles/manifest";
import { groupByResource } from "limitr-engine/core/diff/diff-policies";
import type { DiffSummary, PolicyChange, PolicyDiff } from "limitr-engine/core/diff/types";

export interface Side {
  /** The ref as given (`HEAD`, `main`), or `work tree`. */
  ref: string;
  commit: string | null;
  digest: string;
}

export interface DiffReport {
  base: Side;
  head: Side;
  diff: PolicyDiff;
}

const SYMBOL = { add: "+", remove: "-", change: "~" } as const;
/** PR comments are capped by the host; stay well below 65,536 characters. */
const MARKDOWN_BUDGET = 60_000;

export function renderDiff(report: DiffReport, format: string, color: ChalkInstance): string {
  if (format === "json") return `${JSON.stringify(diffJson(report), null, 2)}\n`;
  if (format === "markdown") return diffMarkdown(report);
  return diffText(report, color);
}

export function diffJson(report: DiffReport) {
  return {
    formatVersion: 1,
    base: report.base,
    head: report.head,
    changes: report.diff.changes.map((c) => ({
      kind: c.kind,
      path: c.path,
      resource: c.resource,
      before: c.before ?? null,
      after: c.after ?? null,
      breaking: c.breaking,
      reason: c.reason,
    })),
    summary: report.diff.summary,
  };
}

/** A value on one line: JSON, shortened past `max` characters. */
function show(value: unknown, max = 120): string {
  const text = value === undefined ? "null" : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const sideLabel = (s: Side) => (s.commit ? `${s.ref} (${s.commit.slice(0, 7)})` : s.ref);

export function summaryLine(s: DiffSummary): string {
  const breaking = s.breaking > 0 ? ` (${s.breaking} breaking)` : "";
  return `Plan: ${s.add} to add, ${s.change} to change, ${s.remove} to destroy${breaking}.`;
}

function resourceKind(resource: string, changes: PolicyChange[]): "add" | "remove" | "change" {
  const whole = changes.find((c) => c.path === resource && c.kind !== "change");
  return whole ? whole.kind : "change";
}

/**
 * The path below the resource (`price.tiers[1].unitPrice`). Top-level settings
 * belong to the `policy` resource, which is not a prefix of their path: they
 * keep their full name (`timezone`, `bundles.store`).
 */
function relPath(c: PolicyChange): string {
  if (c.path === c.resource) return "(whole)";
  const below = c.path.startsWith(`${c.resource}.`) || c.path.startsWith(`${c.resource}[`);
  return below ? c.path.slice(c.resource.length).replace(/^\./, "") : c.path;
}

function diffText(report: DiffReport, color: ChalkInstance): string {
  const paint = { add: color.green, remove: color.red, change: color.yellow };
  const lines = [
    `limitr diff ${sideLabel(report.base)} -> ${sideLabel(report.head)}`,
    color.dim(`base ${shortDigest(report.base.digest)}  head ${shortDigest(report.head.digest)}`),
    "",
  ];
  if (report.diff.changes.length === 0) {
    lines.push("No changes. The compiled policies are identical.");
    return `${lines.join("\n")}\n`;
  }
  for (const [resource, changes] of groupByResource(report.diff.changes)) {
    const kind = resourceKind(resource, changes);
    const breaking = changes.some((c) => c.breaking) ? color.red.bold("  ! breaking") : "";
    lines.push(paint[kind](`  ${SYMBOL[kind]} ${resource}`) + breaking);
    for (const c of changes) lines.push(...changeLines(c, color, paint));
    lines.push("");
  }
  lines.push(color.bold(summaryLine(report.diff.summary)));
  return `${lines.join("\n")}\n`;
}

function changeLines(
  c: PolicyChange,
  color: ChalkInstance,
  paint: Record<PolicyChange["kind"], ChalkInstance>,
): string[] {
  const note = c.reason
    ? c.breaking
      ? color.red(`   ! breaking: ${c.reason}`)
      : color.dim(`   # ${c.reason}`)
    : "";
  const whole = c.path === c.resource && c.kind !== "change";
  const value = c.kind === "add" ? c.after : c.before;
  if (whole && value && typeof value === "object" && !Array.isArray(value)) {
    // A whole resource added or removed: one line per field, as Terraform prints a new resource.
    const fields = Object.entries(value as Record<string, unknown>).filter(([k]) => k !== "id");
    const out = fields.map(([k, v]) => paint[c.kind](`      ${SYMBOL[c.kind]} ${k}: ${show(v)}`));
    if (note) out.push(`     ${note}`);
    return out;
  }
  const body =
    c.kind === "change"
      ? `${show(c.before, 80)} -> ${show(c.after, 80)}`
      : c.kind === "add"
        ? show(c.after)
        : show(c.before);
  return [paint[c.kind](`      ${SYMBOL[c.kind]} ${relPath(c)}: ${body}`) + note];
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");
const code = (value: unknown) =>
  value === null || value === undefined ? "" : `\`${cell(show(value, 80))}\``;

function diffMarkdown(report: DiffReport): string {
  const { changes, summary } = report.diff;
  const head = [`### limitr diff \`${sideLabel(report.base)}\` → \`${sideLabel(report.head)}\``, ""];
  if (changes.length === 0)
    return `${[...head, "No changes: the compiled policies are identical."].join("\n")}\n`;
  head.push(`**${summaryLine(summary)}**`, "");
  const breaking = changes.filter((c) => c.breaking);
  if (breaking.length > 0) {
    head.push(
      "> [!WARNING]",
      `> ${breaking.length} breaking change${breaking.length === 1 ? "" : "s"} for customers:`,
    );
    for (const c of breaking) head.push(`> - \`${c.path}\`: ${cell(c.reason ?? "")}`);
    head.push("");
  }
  head.push("| | Path | Before | After | Note |", "|---|---|---|---|---|");
  const tail = ["", `<sub>base ${report.base.digest} · head ${report.head.digest}</sub>`, ""];
  const rows: string[] = [];
  let size = [...head, ...tail].join("\n").length;
  for (const c of changes) {
    const note = c.reason ? (c.breaking ? `**breaking**: ${cell(c.reason)}` : cell(c.reason)) : "";
    const row = `| ${SYMBOL[c.kind]} | \`${cell(c.path)}\` | ${code(c.before)} | ${code(c.after)} | ${note} |`;
    if (size + row.length + 200 > MARKDOWN_BUDGET) {
      rows.push(`| | … ${changes.length - rows.length} more changes (run \`limitr diff\` locally) | | | |`);
      break;
    }
    rows.push(row);
    size += row.length + 1;
  }
  return [...head, ...rows, ...tail].join("\n");
}
