import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { displayPath } from "limitr-engine/adapters/policy-source";
import type { CompiledPolicy } from "limitr-engine/core/model";
import type { Diagnostic } from "limitr-engine/core/policy/diagnostics";
import { MAX_FILE_BYTES } from "limitr-engine/core/policy/source";
import type { CaseResult, TestCase } from "limitr-engine/core/policy-tests/model";
import { parseTestFile } from "limitr-engine/core/policy-tests/parse";
import { runCase } from "./run-case.js";

/** `*.yaml` / `*.yml` directly in `<policies>/tests/`, sorted; none when the folder is absent. */
export function testFiles(policiesDir: string): string[] {
  const dir = join(policiesDir, "tests");
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => join(dir, e.name))
    .sort();
}

export interface LoadedTests {
  files: string[];
  cases: TestCase[];
  /** Located problems in the test files; any error means nothing should run. */
  diagnostics: Diagnostic[];
}

/** Read and parse every test file; paths in cases and diagnostics are relative to `cwd`. */
export function loadTests(policiesDir: string, cwd: string = process.cwd()): LoadedTests {
  const out: LoadedTests = { files: [], cases: [], diagnostics: [] };
  for (const file of testFiles(resolve(cwd, policiesDir))) {
    const path = displayPath(file, cwd);
    out.files.push(path);
    const size = statSync(file).size;
    const text = size > MAX_FILE_BYTES ? new Uint8Array(size) : readFileSync(file);
    const parsed = parseTestFile({ path, text });
    out.cases.push(...parsed.cases);
    out.diagnostics.push(...parsed.diagnostics);
  }
  return out;
}

/** Run cases one after another (each in its own store), in file order. */
export async function runCases(policy: CompiledPolicy, cases: readonly TestCase[]): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const c of cases) results.push(await runCase(policy, c));
  return results;
}
