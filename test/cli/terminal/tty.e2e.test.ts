import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stripVTControlCharacters } from "node:util";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, limitrBinary as limitr, REPO } from "../run-cli.js";

/**
 * The built CLI on a real pseudo-terminal (util-linux `script`): tables and
 * progress are drawn with ink there and the process still exits on its own;
 * the same commands piped print the plain output the other suites compare.
 */
const hasScript = (() => {
  try {
    execFileSync("script", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** Run on a 120x40 terminal; stdout and stderr both reach the terminal, as for a person. */
/** A person's terminal: no CI markers or colour overrides inherited from the test run (CI=true turns colour off). */
const PERSON_ENV = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => !["CI", "NO_COLOR", "FORCE_COLOR", "GITHUB_ACTIONS"].includes(k),
  ),
);

async function onTerminal(args: string[], env: Record<string, string> = {}) {
  const command = `stty cols 120 rows 40; ${[process.execPath, BIN, ...args].map(quote).join(" ")}`;
  const r = await execa("script", ["-qfec", command, "/dev/null"], {
    cwd: REPO,
    reject: false,
    timeout: 60_000,
    env: { ...PERSON_ENV, TERM: "xterm-256color", ...env },
    extendEnv: false,
  });
  const raw = String(r.stdout);
  return { exitCode: r.exitCode, timedOut: r.timedOut, raw, screen: stripVTControlCharacters(raw) };
}

describe.skipIf(!hasScript)("on a terminal", () => {
  let dir: string;
  let db: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "limitr-tty-"));
    db = join(dir, "usage.db");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("usage import shows a progress bar with percentage, rate and ETA, then the summary", async () => {
    const r = await onTerminal(["usage", "import", "fixtures/usage/2026-10.ndjson.gz", "--db", db]);
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(0);
    expect(r.screen).toMatch(/importing [█░]{30} \d{1,3}% [\d,]+ rows [\d,]+ rows\/s ETA \d+s/);
    expect(r.screen).toContain("imported 100000 events");
  });

  it("bill draws bordered tables with the total row and exits by itself", async () => {
    const customers = await limitr([
      "customers",
      "import",
      "fixtures/usage/2026-10.customers.csv",
      "--db",
      db,
    ]);
    expect(customers.exitCode, customers.stderr).toBe(0);
    const r = await onTerminal(["bill", "--period", "2026-10", "--db", db]);
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(0);
    expect(r.screen).toMatch(/╭─+╮/);
    expect(r.screen).toMatch(/│ INVOICE +CUSTOMER +PLAN +SUBTOTAL/);
    expect(r.screen).toMatch(/│ TOTAL +36 invoices/);
    const piped = await limitr(["bill", "--period", "2026-10", "--db", db]);
    expect(piped.exitCode).toBe(0);
    expect(piped.stdout).not.toMatch(/[╭│╰]/);
    expect(piped.stdout).toMatch(/^TOTAL +36 invoices/m);
    // The one diagnostic: no engine recorded an activation in this store, so the policy directory priced the month.
    expect(piped.stderr.trim()).toMatch(
      /^note: no bundle activation is recorded in the store before the end of 2026-10: priced with the policy directory \S+ \(store [^\n]+\)$/,
    );
  });

  it("usage query, customers list and test are tables too", async () => {
    for (const args of [
      ["usage", "query", "--db", db, "--group-by", "meter"],
      ["customers", "list", "--db", db],
      ["test"],
    ]) {
      const r = await onTerminal(args);
      expect(r.exitCode, args.join(" ")).toBe(0);
      expect(r.screen, args.join(" ")).toMatch(/╭─+╮[\s\S]*╰─+╯/);
    }
  });

  it("NO_COLOR keeps the table's borders and drops its colours", async () => {
    const sgr = /\[(?:\d+;)*\d+m/;
    const coloured = await onTerminal(["usage", "query", "--db", db, "--group-by", "meter"]);
    expect(coloured.raw.split("\u001b").some((s) => sgr.test(s.slice(0, 12)))).toBe(true);
    const plain = await onTerminal(["usage", "query", "--db", db, "--group-by", "meter"], { NO_COLOR: "1" });
    expect(plain.exitCode).toBe(0);
    expect(plain.screen).toMatch(/╭─+╮/);
    expect(
      plain.raw
        .split("\u001b")
        .slice(1)
        .filter((s) => /^\[(?:\d+;)*\d+m/.test(s)),
    ).toEqual([]);
  });
});
