import { createInterface } from "node:readline";
import { execa, type ResultPromise } from "execa";
import { BIN, REPO } from "../cli/run-cli.js";

export const POLICIES = `${REPO}policies`;

export interface Served {
  url: string;
  child: ResultPromise;
  /** stderr so far (diagnostics). */
  stderr: () => string;
  /** POST a JSON body (or raw text) and read the JSON answer. */
  post: (path: string, body: unknown, headers?: Record<string, string>) => Promise<Answer>;
  get: (path: string, headers?: Record<string, string>) => Promise<Answer>;
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number>;
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
  text: string;
  headers: Headers;
}

/**
 * Start the built `limitr serve --port 0` as a user would, read the bound URL
 * from its first stdout line and (unless told not to) wait until /readyz answers 200.
 */
export async function serve(
  args: string[],
  env: Record<string, string> = {},
  { waitReady = true } = {},
): Promise<Served> {
  const child = execa(process.execPath, [BIN, "serve", "--port", "0", ...args], {
    cwd: REPO,
    reject: false,
    env: { NO_COLOR: "1", LIMITR_API_KEYS: "", ...env },
  });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const url = await new Promise<string>((resolve, reject) => {
    lines.once("line", resolve);
    child.then((r) => reject(new Error(`limitr serve exited ${r.exitCode}: ${err}`)));
  });
  const auth: Record<string, string> = env.LIMITR_API_KEYS
    ? { authorization: `Bearer ${env.LIMITR_API_KEYS.split(",")[0]}` }
    : {};
  const call = async (method: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { ...auth, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed, text, headers: res.headers };
  };
  const served: Served = {
    url,
    child,
    stderr: () => err,
    post: (path, body, headers) => call("POST", path, body, headers),
    get: (path, headers) => call("GET", path, undefined, headers),
    stop: async () => {
      child.kill("SIGTERM");
      return (await child).exitCode ?? -1;
    },
  };
  if (!waitReady) return served;
  for (let i = 0; i < 200; i++) {
    const r = await served.get("/readyz").catch(() => null);
    if (r?.status === 200) return served;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  throw new Error(`limitr serve never became ready: ${err}`);
}
