import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Diagnostic } from "../../src/engine/core/policy/diagnostics.js";
import {
  type PolicyFile,
  type ValidationResult,
  validatePolicyFiles,
} from "../../src/engine/core/policy/validate.js";

const EXAMPLE = fileURLToPath(new URL("../../policies", import.meta.url));

/** The example policy repo as in-memory files, keyed by name. */
export function exampleFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(EXAMPLE)
    .filter((n) => n.endsWith(".yaml"))
    .sort()) {
    out[name] = readFileSync(`${EXAMPLE}/${name}`, "utf8");
  }
  return out;
}

export function validate(files: Record<string, string | Uint8Array>): ValidationResult {
  const list: PolicyFile[] = Object.entries(files).map(([path, text]) => ({ path, text }));
  return validatePolicyFiles(list);
}

/** A minimal valid policy plus `extra` files (which may replace the defaults). */
export function withBase(extra: Record<string, string | Uint8Array>): ValidationResult {
  return validate({
    "limitr.yaml": "limitr: 1\nname: t\ncurrency: USD\ntimezone: UTC\n",
    "meters.yaml":
      "meters:\n  tokens: { event: llm, aggregation: sum, property: tokens }\n  calls: { event: api, aggregation: count }\n",
    ...extra,
  });
}

export const codes = (diagnostics: Diagnostic[]) => diagnostics.map((d) => d.code);
