import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, REPO } from "../cli/run-cli.js";

/** The machine's Chromium (Debian's `chromium` package), or null when it is not installed. */
export function findChromium(): string | null {
  for (const path of [process.env.LIMITR_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"]) {
    if (path && existsSync(path)) return path;
  }
  return null;
}

/** Build the studio's web app, so the test drives what the sources say now. */
export function buildStudioWeb(): void {
  execFileSync(
    process.execPath,
    [join(REPO, "node_modules/vite/bin/vite.js"), "build", "--config", "src/studio-web/vite.config.ts"],
    {
      cwd: REPO,
      stdio: "pipe",
    },
  );
}

const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8" }).trim();

/** A git repository on `main` holding a copy of the example policies, committed. */
export function policyRepo(): { dir: string; git: (...args: string[]) => string } {
  const dir = mkdtempSync(join(tmpdir(), "limitr-studio-"));
  cpSync(join(REPO, "policies"), join(dir, "policies"), { recursive: true });
  git(dir, "init", "--quiet", "--initial-branch", "main");
  git(dir, "config", "user.email", "pricing@example.com");
  git(dir, "config", "user.name", "Pricing Team");
  git(dir, "add", "-A");
  git(dir, "commit", "--quiet", "-m", "policies");
  return { dir, git: (...args) => git(dir, ...args) };
}

/** A usage store holding October 2026 (fixtures/usage), for simulations; outside any repository. */
export function usageStore(): string {
  const db = join(mkdtempSync(join(tmpdir(), "limitr-studio-usage-")), "usage.db");
  const run = (...args: string[]) =>
    execFileSync(process.execPath, [BIN, ...args, "--db", db], { cwd: REPO, stdio: "pipe" });
  run("usage", "import", "fixtures/usage/2026-10.ndjson.gz");
  run("customers", "import", "fixtures/usage/2026-10.customers.csv");
  return db;
}

export interface RunningStudio {
  url: string;
  origin: string;
  token: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `limitr studio --port 0` in `cwd`; resolves with the printed URL once it listens. */
export function startStudio(cwd: string, args: string[] = []): Promise<RunningStudio> {
  const child = spawn(process.execPath, [BIN, "studio", "--port", "0", ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += String(d)));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += String(d);
      const line = out.split("\n")[0];
      if (!out.includes("\n") || !line) return;
      const url = new URL(line);
      resolve({
        url: line,
        origin: url.origin,
        token: url.searchParams.get("token") ?? "",
        child,
        stop: () =>
          new Promise((done) => {
            child.once("exit", () => done());
            child.kill("SIGTERM");
          }),
      });
    });
    child.once("exit", (code) => reject(new Error(`limitr studio exited with ${code}: ${stderr}`)));
  });
}
