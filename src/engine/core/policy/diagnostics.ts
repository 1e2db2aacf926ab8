/**
 * Diagnostics: one located problem in a policy, and the ways to print them
 * (SPEC §5). Pure: colour comes in as plain string functions.
 */
export type Severity = "error" | "warning";

export interface Diagnostic {
  severity: Severity;
  /** Stable, documented code: `schema/minimum`, `ref/unknown-meter`, ... */
  code: string;
  message: string;
  /** File as given to the validator (the CLI passes paths relative to the working directory). */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** Dotted path into the merged policy (`plans.pro.entitlements.chat.limit`), "" for the whole file. */
  path: string;
  hint?: string;
}

export interface Summary {
  errors: number;
  warnings: number;
  files: number;
}

export function summarize(diagnostics: readonly Diagnostic[], files: number): Summary {
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  return { errors, warnings: diagnostics.length - errors, files };
}

/** Order of reading: file, then line, then column; ties keep discovery order. */
export function sortDiagnostics(
  diagnostics: readonly Diagnostic[],
  fileOrder: readonly string[] = [],
): Diagnostic[] {
  const ranks = new Map<string, number>();
  fileOrder.forEach((f, i) => {
    if (!ranks.has(f)) ranks.set(f, i);
  });
  const rank = (file: string) => ranks.get(file) ?? fileOrder.length;
  return diagnostics
    .map((d, i) => ({ d, i }))
    .sort(
      (a, b) =>
        rank(a.d.file) - rank(b.d.file) ||
        a.d.file.localeCompare(b.d.file) ||
        a.d.line - b.d.line ||
        a.d.column - b.d.column ||
        a.i - b.i,
    )
    .map(({ d }) => d);
}

export interface Paint {
  error(text: string): string;
  warning(text: string): string;
  dim(text: string): string;
}

const plain: Paint = { error: (t) => t, warning: (t) => t, dim: (t) => t };

/** `policies/plans.yaml:12:18 error [schema/minimum] message`, then the hint indented on its own line. */
export function formatDiagnostic(d: Diagnostic, paint: Paint = plain): string {
  const sev = d.severity === "error" ? paint.error("error") : paint.warning("warning");
  const head = `${d.file}:${d.line}:${d.column} ${sev} ${paint.dim(`[${d.code}]`)} ${d.message}`;
  return d.hint ? `${head}\n    ${paint.dim(d.hint)}` : head;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

export function formatSummary(summary: Summary): string {
  return `${plural(summary.errors, "error")}, ${plural(summary.warnings, "warning")} in ${plural(summary.files, "file")}`;
}

/** GitHub Actions workflow commands: annotations on the pull request's changed lines. */
export function formatGithub(d: Diagnostic): string {
  const props = [
    `file=${escapeProperty(d.file)}`,
    `line=${d.line}`,
    `col=${d.column}`,
    `title=${escapeProperty(d.code)}`,
  ].join(",");
  const body = d.hint ? `${d.message} (${d.hint})` : d.message;
  return `::${d.severity} ${props}::${escapeData(body)}`;
}

function escapeData(text: string): string {
  return text.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, "%3A").replace(/,/g, "%2C");
}
