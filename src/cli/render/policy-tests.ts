import { type Diagnostic, formatDiagnostic } from "limitr-engine/core/policy/diagnostics";
import type { CaseResult, Failure, TestSummary } from "limitr-engine/core/policy-tests/model";
import { text, type View } from "./view.js";

/**
 * `limitr test` output: text for people, JSON (formatVersion 1) for tools,
 * JUnit XML for CI test reports. Durations are left out of text and JSON so
 * the output is stable from run to run; JUnit carries them (CI shows them).
 */
export interface TestReport {
  results: CaseResult[];
  diagnostics: Diagnostic[];
  summary: TestSummary;
}

export interface TextPaint {
  ok(text: string): string;
  fail(text: string): string;
  dim(text: string): string;
}

const show = (v: unknown) => JSON.stringify(v) ?? "null";

function stepLabel(f: Failure): string {
  return typeof f.step === "number" ? `step ${f.step}` : f.step;
}

export function renderText(report: TestReport, paint: TextPaint): string {
  const out: string[] = [];
  for (const r of report.results) {
    if (r.status === "passed") {
      out.push(`${paint.ok("ok")}   ${r.name}`);
      continue;
    }
    out.push(`${paint.fail("FAIL")} ${r.name} ${paint.dim(`(${r.file}:${r.line})`)}`);
    if (r.description) out.push(`     ${paint.dim(r.description)}`);
    let group = "";
    for (const f of r.failures) {
      const head = `${stepLabel(f)} at ${r.file}:${f.line}`;
      if (head !== group) out.push(`  ${head}`);
      group = head;
      out.push(`    ${f.field} ${paint.dim(`(line ${f.fieldLine})`)}`);
      out.push(`      ${paint.ok(`- expected ${show(f.expected)}`)}`);
      out.push(`      ${paint.fail(`+ got      ${show(f.got)}`)}`);
    }
  }
  const s = report.summary;
  if (s.files === 0) out.push("no policy tests found (add tests/*.yaml to the policy directory)");
  else out.push(...(out.length > 0 ? [""] : []), `${s.passed} passed, ${s.failed} failed`);
  return out.join("\n");
}

/** On a terminal: one row per case, then what each failing case expected and got. */
export function testView(report: TestReport): View {
  const s = report.summary;
  if (s.files === 0) return [text("no policy tests found (add tests/*.yaml to the policy directory)")];
  const view: View = [
    {
      kind: "table",
      columns: [
        { header: "RESULT" },
        { header: "TEST" },
        { header: "WHERE" },
        { header: "FAILURES", align: "right" },
      ],
      rows: report.results.map((r) => [
        r.status === "passed" ? "ok" : "FAIL",
        r.name,
        `${r.file}:${r.line}`,
        r.failures.length > 0 ? String(r.failures.length) : "",
      ]),
    },
  ];
  for (const r of report.results) {
    if (r.failures.length === 0) continue;
    view.push(text(`FAIL ${r.name}`, 0, "fail"));
    for (const f of r.failures) {
      view.push(text(`${stepLabel(f)} at ${r.file}:${f.line}: ${f.field}`, 2));
      view.push(
        text(`- expected ${show(f.expected)}`, 4, "ok"),
        text(`+ got      ${show(f.got)}`, 4, "fail"),
      );
    }
  }
  view.push(text(`${s.passed} passed, ${s.failed} failed`, 0, s.failed > 0 ? "fail" : "ok"));
  return view;
}

export function renderJson(report: TestReport): string {
  return JSON.stringify(
    {
      formatVersion: 1,
      cases: report.results.map((r) => ({
        name: r.name,
        description: r.description,
        file: r.file,
        line: r.line,
        status: r.status,
        failures: r.failures,
      })),
      diagnostics: report.diagnostics,
      summary: report.summary,
    },
    null,
    2,
  );
}

function xml(text: string): string {
  return (
    text
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      // XML 1.0 forbids most control characters even escaped.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "")
  );
}

/** One `<testsuite>` per test file; a case's failures go in one `<failure>` element. */
export function renderJunit(report: TestReport): string {
  const byFile = new Map<string, CaseResult[]>();
  for (const r of report.results) byFile.set(r.file, [...(byFile.get(r.file) ?? []), r]);
  const seconds = (ms: number) => (ms / 1000).toFixed(3);
  const s = report.summary;
  const total = report.results.reduce((a, r) => a + r.durationMs, 0);
  // A malformed test file is an error of its suite, so CI reports show it rather than "0 tests".
  const broken = new Map<string, Diagnostic[]>();
  for (const d of report.diagnostics.filter((x) => x.severity === "error")) {
    broken.set(d.file, [...(broken.get(d.file) ?? []), d]);
  }
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="limitr" tests="${s.total + broken.size}" failures="${s.failed}" errors="${broken.size}" time="${seconds(total)}">`,
  ];
  for (const [file, diagnostics] of broken) {
    const body = diagnostics.map((d) => formatDiagnostic(d)).join("\n");
    out.push(`  <testsuite name="${xml(file)}" tests="1" failures="0" errors="1" time="0.000">`);
    out.push(`    <testcase name="${xml(file)}" classname="${xml(file)}" file="${xml(file)}" time="0.000">`);
    out.push(`      <error message="malformed test file" type="invalid">${xml(body)}</error>`);
    out.push("    </testcase>", "  </testsuite>");
  }
  for (const [file, cases] of byFile) {
    const failed = cases.filter((c) => c.status === "failed").length;
    const time = cases.reduce((a, r) => a + r.durationMs, 0);
    out.push(
      `  <testsuite name="${xml(file)}" tests="${cases.length}" failures="${failed}" errors="0" time="${seconds(time)}">`,
    );
    for (const c of cases) {
      const attrs = `name="${xml(c.name)}" classname="${xml(file)}" file="${xml(file)}" line="${c.line}" time="${seconds(c.durationMs)}"`;
      if (c.status === "passed") {
        out.push(`    <testcase ${attrs}/>`);
        continue;
      }
      const first = c.failures[0];
      const message = first
        ? `${stepLabel(first)}: ${first.field} expected ${show(first.expected)}, got ${show(first.got)}`
        : "failed";
      const body = c.failures
        .map(
          (f) =>
            `${file}:${f.fieldLine} ${stepLabel(f)} ${f.field}: expected ${show(f.expected)}, got ${show(f.got)}`,
        )
        .join("\n");
      out.push(`    <testcase ${attrs}>`);
      out.push(`      <failure message="${xml(message)}" type="expectation">${xml(body)}</failure>`);
      out.push("    </testcase>");
    }
    out.push("  </testsuite>");
  }
  out.push("</testsuites>");
  return out.join("\n");
}
