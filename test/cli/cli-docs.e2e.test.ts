import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { commandReference } from "../../src/cli/reference.js";
import { COMMANDS } from "../../src/cli/registry.js";
import { limitr, REPO } from "./run-cli.js";

describe("docs/cli.md", () => {
  const doc = readFileSync(join(REPO, "docs", "cli.md"), "utf8");

  it("carries the command reference generated from the registry (run npm run gen:docs)", () => {
    expect(doc).toContain(commandReference());
  });

  it("documents every command and flag the CLI accepts", async () => {
    for (const spec of COMMANDS) {
      const help = await limitr([...spec.path, "--help"]);
      expect(help.exitCode, spec.path.join(" ")).toBe(0);
      for (const f of spec.flags) {
        const long = /--[a-z-]+/.exec(f.flags)?.[0] as string;
        expect(help.stdout, `${spec.path.join(" ")} ${long}`).toContain(long);
        expect(doc).toContain(f.flags);
      }
    }
  });
});
