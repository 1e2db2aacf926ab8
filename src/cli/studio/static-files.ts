import { existsSync, readFileSync } from "node:fs";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** The built web app: `assets/studio` in the CLI package (see `npm run build:studio`). */
export const WEB_ROOT = fileURLToPath(new URL("../../assets/studio", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
  ".ico": "image/x-icon",
  ".png": "image/png",
};

export interface StaticFile {
  body: Buffer;
  type: string;
}

/**
 * The file for a URL path, inside `root` only; the app's page for any path
 * that is not a file (the app routes itself). Null when the app is not built.
 */
export function staticFile(root: string, urlPath: string): StaticFile | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath.split("?")[0] ?? "/");
  } catch {
    decoded = "/"; // a malformed escape names no file: serve the app's page
  }
  const rel = normalize(decoded).replace(/^[/\\]+/, "");
  const file = join(root, rel);
  const inside = file.startsWith(root + sep) && !rel.split(sep).includes("..");
  const target =
    inside && rel !== "" && existsSync(file) && extname(file) !== "" ? file : join(root, "index.html");
  if (!existsSync(target)) return null;
  return { body: readFileSync(target), type: TYPES[extname(target)] ?? "application/octet-stream" };
}
