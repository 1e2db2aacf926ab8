import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { policyFilesAtRef } from "../../src/cli/adapters/git/policy-at-ref.js";
import { requirePolicyRepo } from "../../src/cli/adapters/git/policy-repo.js";
import { readPolicyFiles, validatePolicyDir } from "../../src/engine/adapters/policy-source.js";
import { validatePolicyFiles } from "../../src/engine/core/policy/validate.js";
import { commitAll, makeRepo } from "../gitops/helpers.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A git repository whose `policy/` holds `limitr.yaml` and the given files; `links` maps a link to its target. */
async function policyRepo(files: Record<string, string>, links: Record<string, string>) {
  const r = await makeRepo({ commit: false });
  cleanups.push(r.cleanup);
  const dir = join(r.dir, "policy");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "limitr.yaml"), "limitr: 1\n");
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  for (const [link, target] of Object.entries(links)) {
    mkdirSync(join(dir, link, ".."), { recursive: true });
    symlinkSync(target, join(dir, link));
  }
  await commitAll(r.dir, "policy with links");
  return { root: r.dir, dir };
}

const PLANS = "plans:\n  pro: { price: 49 }\n";

/** Validate the work tree and the committed policy; both readers must agree. */
async function both(files: Record<string, string>, links: Record<string, string>) {
  const { root, dir } = await policyRepo(files, links);
  const work = validatePolicyDir(dir, root);
  const atRef = validatePolicyFiles(
    (await policyFilesAtRef(await requirePolicyRepo(root, "policy"), "HEAD")).files,
  );
  const shape = (r: typeof work) => ({
    plans: r.stats.plans,
    files: r.stats.files,
    diagnostics: r.diagnostics.map((d) => ({ code: d.code, file: d.file, line: d.line, column: d.column })),
  });
  expect(shape(atRef)).toEqual(shape(work));
  return { work, dir, root };
}

describe("symlinks in a policy directory (work tree and git ref alike)", () => {
  it("a link to a file inside the directory is read under the link's name", async () => {
    const { work, dir, root } = await both(
      { "shared/plans.src": PLANS },
      { "plans.yaml": "shared/plans.src" },
    );
    expect(work.diagnostics).toEqual([]);
    expect(work.stats.plans).toBe(1);
    expect(readPolicyFiles(dir, root).map((f) => f.path)).toEqual([
      "policy/limitr.yaml",
      "policy/plans.yaml",
    ]);
  });

  it("a link to a folder inside the directory is walked", async () => {
    const { work } = await both({ "real/plans.yaml": PLANS }, { linked: "real" });
    // Both the folder and its link are read: the same plan twice is a duplicate id, naming both files.
    expect(work.diagnostics).toMatchObject([{ code: "policy/duplicate-id", file: "policy/real/plans.yaml" }]);
    expect(work.diagnostics[0]?.message).toContain("policy/linked/plans.yaml");
  });

  it("a link leaving the directory is policy/symlink-outside, located at the link", async () => {
    const { work } = await both({ "../outside.yaml": PLANS }, { "plans.yaml": "../outside.yaml" });
    expect(work.diagnostics).toMatchObject([
      { code: "policy/symlink-outside", file: "policy/plans.yaml", line: 1, column: 1 },
    ]);
    expect(work.diagnostics[0]?.message).toBe(
      "plans.yaml links to ../outside.yaml, outside the policy directory",
    );
    expect(work.policy).toBeUndefined();
  });

  it("a folder linking to its own ancestor, and two links to each other, are policy/symlink-loop", async () => {
    const { work } = await both({}, { "sub/up": "..", "a.yaml": "b.yaml", "b.yaml": "a.yaml" });
    expect(work.diagnostics.map((d) => [d.code, d.file])).toEqual([
      ["policy/symlink-loop", "policy/a.yaml"],
      ["policy/symlink-loop", "policy/b.yaml"],
      ["policy/symlink-loop", "policy/sub/up"],
    ]);
  });

  it("a link to nothing is policy/symlink-broken", async () => {
    const { work } = await both({}, { "plans.yaml": "gone.yaml" });
    expect(work.diagnostics).toMatchObject([{ code: "policy/symlink-broken", file: "policy/plans.yaml" }]);
  });
});
