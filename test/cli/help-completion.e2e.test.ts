import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMANDS } from "../../src/cli/registry.js";
import { limitr } from "./run-cli.js";

/** Subcommand help and shell completion, both generated from the one registry. */
const has = (bin: string) => {
  try {
    execFileSync(bin, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

describe("subcommand --help", () => {
  it.each(COMMANDS.map((c) => [c.path.join(" "), c] as const))(
    "%s shows the global flags, an example and its guide",
    async (_, spec) => {
      const r = await limitr([...spec.path, "--help"]);
      expect(r.exitCode).toBe(0);
      const after = r.stdout.slice(r.stdout.indexOf("Global options:"));
      expect(after).toMatch(/--policies <dir> +policy directory \(default: \.\/policies\)/);
      expect(after).toMatch(/--db <path\|url> +usage store/);
      expect(after).toContain(`Example:\n  $ limitr ${spec.path.join(" ")}`);
      expect(after).toContain(`Docs: docs/${spec.docs}`);
    },
  );
});

describe("limitr completion", () => {
  let dir: string;
  const scripts: Record<string, string> = {};
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "limitr-completion-"));
    for (const shell of ["bash", "zsh", "fish"]) {
      const r = await limitr(["completion", shell]);
      expect(r.exitCode, r.stderr).toBe(0);
      scripts[shell] = r.stdout;
      writeFileSync(join(dir, `limitr.${shell}`), r.stdout);
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(["bash", "zsh", "fish"])("%s names every command word and every flag of the registry", (shell) => {
    const script = scripts[shell] as string;
    for (const spec of COMMANDS) {
      for (const word of spec.path) expect(script, `${shell}: ${word}`).toContain(word);
      for (const f of spec.flags) {
        const long = /--([a-z-]+)/.exec(f.flags)?.[1] as string;
        expect(script, `${shell}: ${spec.path.join(" ")} --${long}`).toMatch(
          new RegExp(`(--|-l )${long}\\b`),
        );
      }
    }
  });

  it("an unknown shell is a usage error (exit 64)", async () => {
    const r = await limitr(["completion", "tcsh"]);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain('unknown shell "tcsh" (expected bash, zsh or fish)');
  });

  /** What bash offers after the words typed so far (the last one is being completed). */
  async function complete(...words: string[]): Promise<string[]> {
    const script = [
      `source ${join(dir, "limitr.bash")}`,
      `COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")})`,
      `COMP_CWORD=${words.length - 1}`,
      "_limitr",
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join("\n");
    const r = await execa("bash", ["-c", script], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    return r.stdout.split("\n").filter(Boolean);
  }

  it("bash: the script parses and completes commands, subcommands, flags and flag values", async () => {
    execFileSync("bash", ["-n", join(dir, "limitr.bash")]);
    expect(await complete("limitr", "")).toEqual(expect.arrayContaining(COMMANDS.map((c) => c.path[0])));
    expect(await complete("limitr", "us")).toEqual(["usage"]);
    expect(await complete("limitr", "usage", "")).toEqual(["import", "query", "rebuild-rollups", "--help"]);
    expect(await complete("limitr", "bill", "--format", "")).toEqual(["text", "json", "csv"]);
    // A flag's value is not a command word: still completing `bill`'s flags.
    expect(await complete("limitr", "--db", "x.db", "bill", "--period", "2026-10", "--fi")).toEqual([
      "--finalize",
    ]);
    expect(await complete("limitr", "customers", "l")).toEqual(["list"]);
  });

  it.skipIf(!has("zsh"))("zsh: the script parses", () => {
    execFileSync("zsh", ["-n", join(dir, "limitr.zsh")]);
  });

  it.skipIf(!has("fish"))("fish: the script parses", () => {
    execFileSync("fish", ["-n", join(dir, "limitr.fish")]);
  });
});
