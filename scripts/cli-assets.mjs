// Copies what `limitr init` scaffolds (the example policies) and the JSON Schemas
// into the CLI package, so an installed limitr-cli carries them.
import { cpSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const assets = `${root}src/cli/assets`;
rmSync(assets, { recursive: true, force: true });
cpSync(`${root}policies`, `${assets}/policies`, { recursive: true });
cpSync(`${root}schemas`, `${assets}/schemas`, { recursive: true });
