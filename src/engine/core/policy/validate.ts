import { type Diagnostic, sortDiagnostics } from "./diagnostics.js";
import { mergeFragments } from "./merge.js";
import { RULES, runRules } from "./rules.js";
import { schemaDiagnostics } from "./schema-stage.js";
import { type PolicyFile, parseFragment } from "./source.js";
import { finishValidation, type ValidationResult } from "./validate-document.js";

export type { PolicyFile } from "./source.js";
export {
  exactMoney,
  type PolicyStats,
  type ValidationResult,
  validatePolicyDocument,
} from "./validate-document.js";

export interface ValidateOptions {
  /** Name used for problems of the directory as a whole (no files at all). */
  root?: string;
  /** Largest file accepted, in bytes (default `MAX_FILE_BYTES`, 16 MiB). */
  maxFileBytes?: number;
}

/**
 * Validate a policy given as in-memory files, in stages: YAML with positions,
 * JSON Schema per file, merge by section, named semantic rules; then compile.
 * Pure: the CLI, the bundle loader and the engine all call this.
 *
 * @example
 *   const { policy, diagnostics } = validatePolicyFiles([{ path: "limitr.yaml", text: "limitr: 1\n" }]);
 */
export function validatePolicyFiles(
  files: readonly PolicyFile[],
  options: ValidateOptions = {},
): ValidationResult {
  const order = files.map((f) => f.path);
  const fallback = order[0] ?? options.root ?? "policies";
  const diagnostics: Diagnostic[] = [];
  if (files.length === 0) {
    diagnostics.push({
      severity: "error",
      code: "policy/no-files",
      message: `no policy files (*.yaml, *.yml) in ${fallback}`,
      file: fallback,
      line: 1,
      column: 1,
      path: "",
      hint: "run `limitr init` to scaffold one, or point --policies at your policy directory",
    });
  }
  const fragments = files.map((f) => parseFragment(f, options.maxFileBytes));
  for (const f of fragments) {
    diagnostics.push(...f.diagnostics);
    if (f.value) diagnostics.push(...schemaDiagnostics(f.file, f.value, f.locations, f.numbers));
  }
  const merged = mergeFragments(fragments);
  diagnostics.push(...merged.diagnostics);
  // Cross-file rules over a policy with an unreadable file would only report its absence, many times over.
  const unreadable = fragments.some(
    (f) => f.value === null && f.diagnostics.some((d) => d.severity === "error"),
  );
  if (files.length > 0 && !unreadable) {
    diagnostics.push(...runRules({ ...merged, fallbackFile: fallback }, RULES));
  }
  return finishValidation(merged, sortDiagnostics(diagnostics, order), files.length, fallback);
}
