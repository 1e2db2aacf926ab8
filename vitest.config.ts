import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const engine = fileURLToPath(new URL("./src/engine/", import.meta.url));

export default defineConfig({
  resolve: {
    // The CLI imports the engine by package name; tests load both from source,
    // so one module instance serves the test and the code under test.
    alias: [
      { find: /^limitr-engine$/, replacement: `${engine}index.ts` },
      { find: /^limitr-engine\/(.*)$/, replacement: `${engine}$1` },
    ],
  },
  test: {
    include: ["test/**/*.test.ts", "test/**/*.test.tsx"],
    // Generous for a shared 2-core machine: property tests and real processes
    // can take three times their idle time there; a hang still fails.
    testTimeout: 90_000,
    hookTimeout: 60_000,
    pool: "forks",
    // vitest's default is one worker fewer than the cores: a single worker on a
    // 2-core machine, which leaves a core idle while suites wait on git, HTTP
    // and child processes.
    maxWorkers: Math.max(2, availableParallelism()),
    globalSetup: ["test/global-setup.ts"],
  },
});
