import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The studio's web app, built into the CLI package's assets (served by `limitr studio`).
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: fileURLToPath(new URL("../cli/assets/studio", import.meta.url)),
    emptyOutDir: true,
    sourcemap: false,
  },
  logLevel: "warn",
});
