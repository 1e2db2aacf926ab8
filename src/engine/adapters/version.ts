import { readFileSync } from "node:fs";

let cachedVersion: string | undefined;

/** The running limitr's version (package.json), shown by `--version` and recorded in every manifest. */
export function limitrVersion(): string {
  if (cachedVersion) return cachedVersion;
  // dist/adapters/ and src/adapters/ are both two levels below the package root.
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    cachedVersion = pkg.version;
  } catch {
    cachedVersion = "0.0.0";
  }
  return cachedVersion;
}
