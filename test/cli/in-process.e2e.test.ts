import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { limitrBinary, limitrInProcess, REPO } from "./run-cli.js";

/**
 * Most CLI suites run commands in-process (`runCli` with its own context);
 * this one holds them to the built binary: the same command line prints the
 * same stdout and stderr and exits with the same code either way, from a cwd
 * that is not the test process's.
 */
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "limitr-runner-"));
  cpSync(join(REPO, "policies"), join(dir, "policies"), { recursive: true });
  cpSync(join(REPO, "policies"), join(dir, "broken"), { recursive: true });
  writeFileSync(join(dir, "broken", "extra.yaml"), "meters:\n  api_calls:\n    aggregation: median\n");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LINES: [string, string[]][] = [
  ["a valid policy, relative --policies", ["validate", "--policies", "policies"]],
  ["an invalid policy as JSON (exit 3)", ["validate", "--policies", "broken", "--format", "json"]],
  ["an invalid policy as text", ["validate", "--policies", "./broken"]],
  ["fmt --check", ["fmt", "--check", "--policies", "policies"]],
  ["a usage error (exit 64)", ["bill", "--format", "yaml"]],
  ["an unknown command", ["frobnicate"]],
  ["a group without its subcommand", ["usage"]],
  ["subcommand help", ["customers", "set", "--help"]],
  ["the version", ["--version"]],
  ["a store that does not exist (exit 1)", ["--db", "missing.db", "usage", "query"]],
];

describe("in-process runs print what the binary prints", () => {
  it.each(LINES)(
    "%s",
    async (_, args) => {
      const [binary, inProcess] = [await limitrBinary(args, dir), await limitrInProcess(args, dir)];
      expect(inProcess).toEqual(binary);
    },
    120_000,
  );

  it("leaves the test process's exit code and working directory alone", async () => {
    const before = process.cwd();
    const r = await limitrInProcess(["validate", "--policies", "broken"], dir);
    expect(r.exitCode).toBe(3);
    expect(process.exitCode ?? 0).toBe(0);
    expect(process.cwd()).toBe(before);
  });
});
