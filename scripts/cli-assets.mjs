// Copies what `limitr init` scaffolds (the example policies) and the JSON Schemas
// into the CLI package, so an installed limitr-cli carries them; and the engine's
// Redis scripts next to their built adapter, which reads them at load. The studio's
// web app is built into assets/studio by `npm run build:studio` and left alone here.
import { cpSync, readdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const assets = `${root}src/cli/assets`;
rmSync(`${assets}/policies`, { recursive: true, force: true });
rmSync(`${assets}/schemas`, { recursive: true, force: true });
cpSync(`${root}policies`, `${assets}/policies`, { recursive: true });
cpSync(`${root}schemas`, `${assets}/schemas`, { recursive: true });

const redis = `${root}src/engine/adapters/redis`;
for (const f of readdirSync(redis).filter((f) => f.endsWith(".lua"))) {
  cpSync(`${redis}/${f}`, `${root}src/engine/dist/adapters/redis/${f}`);
}
