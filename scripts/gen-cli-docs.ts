/** Regenerate the command reference in docs/cli.md from src/cli/registry.ts. */
import { readFileSync, writeFileSync } from "node:fs";
import { withReference } from "../src/cli/reference.js";

const path = new URL("../docs/cli.md", import.meta.url);
writeFileSync(path, withReference(readFileSync(path, "utf8")));
