import { readFileSync } from "node:fs";

let cachedVersion: string | undefined;

/** The running limitr's version (package.json), shown by `--version` and recorded in every manifest. */
export function limitrVersion(): string {
  if (cachedVersion) return cachedVersion;
  // Built, this file is dist/adapters/ (two levels below the package root);
  // run from sources (tests, tsx) it is adapters/ (one level).
  for (const candidate of ["../../package.json", "../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(candidate, import.meta.url), "utf8")) as {
        name?: string;
        version: string;
      };
      if (pkg.name !== "limitr-engine") continue;
      cachedVersion = pkg.version;
      return cachedVersion;
    } catch {
      // Not at this level; try the next.
    }
  }
  cachedVersion = "0.0.0";
  return cachedVersion;
}
