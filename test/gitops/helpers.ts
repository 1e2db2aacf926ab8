import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execa } from "execa";
import { limitrBinary, limitrInProcess } from "../cli/run-cli.js";

export const ROOT = resolve(import.meta.dirname, "../..");

/**
 * A temp git repository holding a copy of the example policies, committed once.
 * `tests: false` leaves out policies/tests, for suites that change prices the
 * example's policy tests pin (push runs those tests before publishing).
 */
export async function makeRepo(
  opts: { commit?: boolean; tests?: boolean } = {},
): Promise<{ dir: string; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), "limitr-gitops-"));
  await git(dir, "init", "-q", "-b", "main");
  await git(dir, "config", "user.name", "Pricing Team");
  await git(dir, "config", "user.email", "pricing@acme-ai.example");
  await git(dir, "config", "commit.gpgsign", "false");
  cpSync(join(ROOT, "policies"), join(dir, "policies"), { recursive: true });
  if (opts.tests === false) rmSync(join(dir, "policies", "tests"), { recursive: true, force: true });
  writeFileSync(join(dir, ".gitignore"), ".limitr/\n");
  if (opts.commit !== false) await commitAll(dir, "policies: initial");
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const r = await execa("git", args, { cwd });
  return r.stdout;
}

export async function commitAll(cwd: string, message: string): Promise<string> {
  await git(cwd, "add", "-A");
  await git(cwd, "commit", "-q", "-m", message);
  return git(cwd, "rev-parse", "HEAD");
}

/** Run a CLI command in this process; never throws on a non-zero exit. Colour off, stable output. */
export async function limitr(cwd: string, args: string[], env: Record<string, string> = {}) {
  const r = await limitrInProcess(args, cwd, { LIMITR_SIGN_KEY: "", ...env });
  return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

/** The same through the built binary, for what needs a real process (concurrent publishers). */
export async function limitrProcess(cwd: string, args: string[], env: Record<string, string> = {}) {
  const r = await limitrBinary(args, cwd, { LIMITR_SIGN_KEY: "", ...env });
  return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

/** Edit a policy file in place with a literal (not regex) replacement; fails loudly when the text is absent. */
export function edit(file: string, from: string, to: string): void {
  const text = readFileSync(file, "utf8");
  if (!text.includes(from)) throw new Error(`${file} does not contain ${JSON.stringify(from)}`);
  writeFileSync(file, text.replace(from, to));
}

export const readJson = (file: string) => JSON.parse(readFileSync(file, "utf8"));
