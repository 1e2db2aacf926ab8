import { writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { maxPolicyFileBytes } from "limitr-engine/adapters/policy-source";
import { InputError } from "limitr-engine/core/errors";
import type { CompiledPolicy } from "limitr-engine/core/model";
import type { Diagnostic } from "limitr-engine/core/policy/diagnostics";
import { type PolicyFile, validatePolicyFiles } from "limitr-engine/core/policy/validate";
import { isScalar, parseDocument } from "yaml";
import { policyFilesInWorkTree } from "../adapters/git/policy-at-ref.js";
import { editYaml, type Path, type YamlEdit } from "./yaml-edit.js";
import { setYamlValue } from "./yaml-set.js";

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

/** A whole value set at a path: a tier table, a contract's overrides, discounts or credits, a wallet. */
export interface ValueChange {
  /** Starts with a section and an id: `["plans", "pro", ...]`, `["customers", "globex", ...]`. */
  path: Path;
  /** As the form holds it: numbers as decimal strings, "" for a field left empty; absent removes the key. */
  value?: unknown;
}

/** A new plan as a copy of another, written right after it in the same file. */
export interface PlanCopy {
  from: string;
  id: string;
  name: string;
}

const SECTIONS = new Set(["plans", "customers"]);

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

  /**
   * Plan and entitlement ids in the order the files list them (compiled
   * policies sort them), and the `plan/entitlement` pairs whose price is a
   * tier table as written (an `overage` compiles to tiers too, but is edited as a price).
   */
  order(files: PolicyFile[] = this.files()): { plans: string[]; entitlements: string[]; tiered: string[] } {
    const plans: string[] = [];
    const entitlements = new Set<string>();
    const tiered: string[] = [];
    for (const f of files) {
      const doc = parseDocument(String(f.text)).toJS() as {
        plans?: Record<string, { entitlements?: Record<string, { price?: { tiers?: unknown } } | boolean> }>;
      } | null;
      for (const [id, plan] of Object.entries(doc?.plans ?? {})) {
        plans.push(id);
        for (const [e, ent] of Object.entries(plan?.entitlements ?? {})) {
          entitlements.add(e);
          if (typeof ent === "object" && ent !== null && Array.isArray(ent.price?.tiers))
            tiered.push(`${id}/${e}`);
        }
      }
    }
    return { plans, entitlements: [...entitlements], tiered };
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
    return this.write(this.check(change));
  }

  private write(result: CheckResult): CheckResult {
    if (result.valid) writeFileSync(join(this.base, result.file), result.text);
    return result;
  }

  /** The file defining `section.id`, and its index in `files`. */
  private owner(files: PolicyFile[], section: string, id: string): number {
    const index = files.findIndex((f) => parseDocument(String(f.text)).hasIn([section, id]));
    if (index === -1) throw new InputError(`no file defines ${section}.${id}`);
    return index;
  }

  private checkText(files: PolicyFile[], index: number, text: string): CheckResult {
    const next = files.map((f, i) => (i === index ? { ...f, text } : f));
    const result = this.validate(next);
    return {
      file: files[index]!.path,
      diagnostics: result.diagnostics,
      valid: result.policy !== undefined,
      policy: result.policy,
      text,
    };
  }

  /** The value at `path` as the file has it (JSON), or null when absent. */
  read(path: Path): unknown {
    const [section, id] = path;
    if (typeof section !== "string" || !SECTIONS.has(section) || typeof id !== "string")
      throw new InputError("a path starts with plans.<id> or customers.<id>");
    const files = this.files();
    const doc = parseDocument(String(files[this.owner(files, section, id)]!.text));
    const node = doc.getIn(path, true) as { toJSON?: () => unknown } | undefined;
    return node?.toJSON ? node.toJSON() : (doc.getIn(path) ?? null);
  }

  /** A whole value set in memory and validated; nothing is written. */
  checkValue(change: ValueChange): CheckResult {
    const [section, id] = change.path;
    if (
      typeof section !== "string" ||
      !SECTIONS.has(section) ||
      typeof id !== "string" ||
      change.path.length < 3
    )
      throw new InputError("a path starts with plans.<id> or customers.<id> and names a field inside it");
    const files = this.files();
    const index = this.owner(files, section, id);
    const { text } = setYamlValue(String(files[index]!.text), change.path, change.value);
    return this.checkText(files, index, text);
  }

  applyValue(change: ValueChange): CheckResult {
    return this.write(this.checkValue(change));
  }

  /** A copy of plan `from` as plan `id`: same terms, its own name, never the default plan. */
  checkCopy(copy: PlanCopy): CheckResult {
    const files = this.files();
    const index = this.owner(files, "plans", copy.from);
    const id = copy.id.trim();
    if (!/^[a-z0-9][a-z0-9_-]*$/.test(id))
      throw new InputError(
        `"${copy.id}" cannot be a plan id: use lower-case letters, digits, "-" and "_", starting with a letter or digit`,
      );
    if (files.some((f) => parseDocument(String(f.text)).hasIn(["plans", id])))
      throw new InputError(`a plan with id ${id} already exists`);
    const source = String(files[index]!.text);
    const text = copyPlanText(source, copy.from, id);
    const named = editYaml(text, [
      { path: ["plans", id, "name"], value: copy.name.trim() === "" ? undefined : copy.name.trim() },
      { path: ["plans", id, "default"], value: undefined },
    ]).text;
    return this.checkText(files, index, named);
  }

  applyCopy(copy: PlanCopy): CheckResult {
    return this.write(this.checkCopy(copy));
  }
}

/** The plan's lines (key, terms, comments inside) repeated under the new id, after a blank line. */
function copyPlanText(text: string, from: string, id: string): string {
  const doc = parseDocument(text);
  const plans = doc.get("plans", true) as { items?: { key: unknown; value: unknown }[] } | undefined;
  const pair = plans?.items?.find((p) => isScalar(p.key) && p.key.value === from);
  const keyRange = (pair?.key as { range?: number[] } | undefined)?.range;
  const valueRange = (pair?.value as { range?: number[] } | undefined)?.range;
  if (!pair || !keyRange || !valueRange) throw new InputError(`plan ${from} is not a map this can copy`);
  const start = text.lastIndexOf("\n", keyRange[0]! - 1) + 1;
  let end = text.indexOf("\n", Math.max(valueRange[0]!, valueRange[1]! - 1));
  if (end === -1) end = text.length;
  const block = text.slice(start, end);
  const indent = block.slice(0, keyRange[0]! - start);
  const copied = `${indent}${id}${block.slice(keyRange[1]! - start)}`;
  return `${text.slice(0, end)}\n\n${copied}${text.slice(end)}`;
}
