/**
 * Which files make up a policy directory, symlinks included, computed from a
 * listing that does not follow links: the work tree reader builds it with
 * lstat/readlink, the git reader from `ls-tree` (git stores a link as a blob
 * holding its target). One rule for both: a link whose target stays inside the
 * policy directory is followed (a file is read under the link's name, a
 * directory is walked); a link leaving the directory, a link to nothing and a
 * loop are located problems. Pure.
 */
export interface TreeEntry {
  /** `/`-separated, relative to the policy directory. */
  path: string;
  kind: "file" | "dir" | "link";
  /** For links: the target as stored (relative to the link's folder, or absolute). */
  target?: string;
}

export interface TreeProblem {
  /** The link, as reached (relative to the policy directory). */
  path: string;
  code: "policy/symlink-outside" | "policy/symlink-loop" | "policy/symlink-broken";
  message: string;
}

export interface PolicyTree {
  /** Policy files in reading order: `path` as reached, `source` the entry holding the bytes. */
  files: { path: string; source: string }[];
  problems: TreeProblem[];
}

/** Links followed in a row before giving up, as the kernel does (ELOOP). */
const MAX_HOPS = 40;
const POLICY_FILE = /\.ya?ml$/;

export function resolvePolicyTree(entries: readonly TreeEntry[]): PolicyTree {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const children = new Map<string, TreeEntry[]>();
  for (const e of entries) {
    const parent = e.path.includes("/") ? e.path.slice(0, e.path.lastIndexOf("/")) : "";
    const list = children.get(parent) ?? [];
    list.push(e);
    children.set(parent, list);
  }
  const out: PolicyTree = { files: [], problems: [] };

  const walk = (virtual: string, real: string, ancestors: ReadonlySet<string>) => {
    const list = [...(children.get(real) ?? [])];
    const order =
      list.every((e) => PLAIN_NAME.test(baseName(e.path))) && rootCollation() ? byCodeUnits : byLocale;
    list.sort((a, b) => order(baseName(a.path), baseName(b.path)));
    for (const entry of list) {
      const name = baseName(entry.path);
      const path = virtual === "" ? name : `${virtual}/${name}`;
      if (name.startsWith(".") && entry.kind !== "file") continue;
      if (path === "tests") continue;
      const r = entry.kind === "link" ? follow(entry, byPath) : { kind: entry.kind, path: entry.path };
      if ("code" in r) {
        out.problems.push({ path, code: r.code, message: r.message });
        continue;
      }
      if (r.kind === "dir") {
        if (ancestors.has(r.path)) {
          out.problems.push({
            path,
            code: "policy/symlink-loop",
            message: `${path} links to ${r.path || "the policy directory"}, which contains it (a loop)`,
          });
          continue;
        }
        walk(path, r.path, new Set([...ancestors, r.path]));
      } else if (POLICY_FILE.test(name)) out.files.push({ path, source: r.path });
    }
  };
  walk("", "", new Set([""]));
  return out;
}

type Followed = { kind: "file" | "dir"; path: string } | { code: TreeProblem["code"]; message: string };

function follow(link: TreeEntry, byPath: ReadonlyMap<string, TreeEntry>): Followed {
  let at = link;
  for (let hops = 0; hops < MAX_HOPS; hops++) {
    const target = at.target ?? "";
    const resolved = target.startsWith("/") ? null : normalize(`${dirName(at.path)}/${target}`);
    if (resolved === null) {
      return {
        code: "policy/symlink-outside",
        message: `${link.path} links to ${target}, outside the policy directory`,
      };
    }
    if (resolved === "") return { kind: "dir", path: "" };
    const next = byPath.get(resolved);
    if (!next)
      return {
        code: "policy/symlink-broken",
        message: `${link.path} links to ${target}, which does not exist`,
      };
    if (next.kind !== "link") return { kind: next.kind, path: next.path };
    at = next;
  }
  return { code: "policy/symlink-loop", message: `${link.path} is a loop of symbolic links` };
}

/** `a/./b/../c` -> `a/c`; null when the path climbs out of the policy directory. */
function normalize(path: string): string | null {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length === 0) return null;
      out.pop();
    } else out.push(part);
  }
  return out.join("/");
}

/**
 * Names in a folder are read in the order of the default locale's collation
 * (`localeCompare`). Creating that collator costs about 7 ms of a process's
 * start, and for the usual names it is not needed: names of lower-case
 * letters, digits, `-` and `.` sort in the CLDR root collation (which English
 * and the root locale use) exactly as their code units do (`-` < `.` < digits
 * < letters, a prefix first). Any other name, or another default locale
 * (Danish sorts "aa" after "z"), is compared by the collator.
 */
const PLAIN_NAME = /^[a-z0-9.-]*$/;
const byLocale = (a: string, b: string) => a.localeCompare(b);
const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
let rootLocale: boolean | undefined;
/** Is the default locale English or root? Plural rules resolve the same default locale without loading collation data. */
function rootCollation(): boolean {
  if (rootLocale === undefined) {
    const Rules = globalThis.Intl?.PluralRules;
    rootLocale = Rules !== undefined && /^(en|und)(-|$)/.test(new Rules().resolvedOptions().locale);
  }
  return rootLocale;
}

const baseName = (p: string) => p.slice(p.lastIndexOf("/") + 1);
const dirName = (p: string) => (p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "");
