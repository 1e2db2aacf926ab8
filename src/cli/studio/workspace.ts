import { writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { maxPolicyFileBytes } from "limitr-engine/adapters/policy-source";
import { InputError } from "limitr-engine/core/errors";
import type { CompiledPolicy } from "limitr-engine/core/model";
import type { Diagnostic } from "limitr-engine/core/policy/diagnostics";
import { type PolicyFile, validatePolicyFiles } from "limitr-engine/core/policy/validate";
import { isScalar, parseDocument } from "yaml";
import { policyFilesInWorkTree } from "../adapters/git/policy-at-ref.js";
import { editYaml, type YamlEdit } from "./yaml-edit.js";

/**
 * The policy directory as the studio sees it: files read fresh for every
 * request (someone may edit them in an editor meanwhile), validated by the
 * same validator as `limitr validate`, and changed only through `editYaml`.
 */
export interface EntitlementChange {
  plan: string;
  entitlement: string;
  /** Field -> text as typed; "" removes the key (the schema's default applies). */
  values: Record<string, string>;
}

export interface CheckResult {
  file: string;
  /** The validator's diagnostics for the whole policy with the change applied. */
  diagnostics: Diagnostic[];
  valid: boolean;
  policy?: CompiledPolicy;
  text: string;
}

const EDITABLE = new Set(["limit", "mode", "overage"]);

export class Workspace {
  constructor(
    /** Absolute policy directory. */
    readonly dir: string,
    /** Paths in diagnostics are relative to this (the repository root, or the cwd). */
    readonly base: string,
  ) {}

  files(): PolicyFile[] {
    return policyFilesInWorkTree(this.dir, this.base);
  }

  validate(files: PolicyFile[] = this.files()) {
    return validatePolicyFiles(files, {
      root: relative(this.base, this.dir),
      maxFileBytes: maxPolicyFileBytes(),
    });
  }

  /** Plan and entitlement ids in the order the files list them (compiled policies sort them). */
  order(files: PolicyFile[] = this.files()): { plans: string[]; entitlements: string[] } {
    const plans: string[] = [];
    const entitlements = new Set<string>();
    for (const f of files) {
      const doc = parseDocument(String(f.text)).toJS() as {
        plans?: Record<string, { entitlements?: object }>;
      } | null;
      for (const [id, plan] of Object.entries(doc?.plans ?? {})) {
        plans.push(id);
        for (const e of Object.keys(plan?.entitlements ?? {})) entitlements.add(e);
      }
    }
    return { plans, entitlements: [...entitlements] };
  }

  /** The editable fields of an entitlement as written in its file ("" when absent). */
  values(plan: string, entitlement: string): Record<string, string> {
    const path = ["plans", plan, "entitlements", entitlement];
    for (const f of this.files()) {
      const text = String(f.text);
      const doc = parseDocument(text);
      if (!doc.hasIn(path)) continue;
      return Object.fromEntries(
        [...EDITABLE].map((key) => {
          const node = doc.getIn([...path, key], true);
          return [key, isScalar(node) && node.range ? text.slice(node.range[0], node.range[1]) : ""];
        }),
      );
    }
    throw new InputError(`no file defines plans.${plan}.entitlements.${entitlement}`);
  }

  /** The change applied in memory and validated; nothing is written. */
  check(change: EntitlementChange): CheckResult {
    const files = this.files();
    const path = ["plans", change.plan, "entitlements", change.entitlement];
    const index = files.findIndex((f) => parseDocument(String(f.text)).hasIn(path));
    if (index === -1)
      throw new InputError(`no file defines plans.${change.plan}.entitlements.${change.entitlement}`);
    const file = files[index]!;
    const edits: YamlEdit[] = Object.entries(change.values)
      .filter(([key]) => EDITABLE.has(key))
      .map(([key, raw]) => {
        const value = raw.trim();
        return { path: [...path, key], value: value === "" ? undefined : value };
      });
    const { text } = editYaml(String(file.text), edits);
    const next = files.map((f, i) => (i === index ? { ...f, text } : f));
    const result = this.validate(next);
    return {
      file: file.path,
      diagnostics: result.diagnostics,
      valid: result.policy !== undefined,
      policy: result.policy,
      text,
    };
  }

  /** Check, then write the file; refuses a change the validator reports errors for. */
  apply(change: EntitlementChange): CheckResult {
    const result = this.check(change);
    if (!result.valid) return result;
    writeFileSync(join(this.base, result.file), result.text);
    return result;
  }
}
