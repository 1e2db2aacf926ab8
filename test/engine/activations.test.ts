import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/engine/adapters/store/database.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { apiPolicy, pushVersion, removeTempDirs, tempDir } from "./reload-helpers.js";

const ENV = "production";

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("bundle activations are recorded in the store (R14 audit)", () => {
  afterEach(() => removeTempDirs());

  it("records the policy at open, not again on a reopen under it, and each reload", async () => {
    const root = tempDir();
    const file = join(tempDir(), "usage.db");
    const v1 = await pushVersion(root, ENV, apiPolicy(10, "0.5"), null);
    let engine = await Limitr.open({
      policy: { store: root, env: ENV, pollMs: 30 },
      store: `sqlite:${file}`,
    });
    await engine.close();
    engine = await Limitr.open({ policy: { store: root, env: ENV, pollMs: 30 }, store: `sqlite:${file}` });
    const v2 = await pushVersion(root, ENV, apiPolicy(20, "0.5"), null);
    await until(() => engine.status().activeVersion === 2);
    await engine.close();

    const db = openDatabase(file, { readonly: true });
    try {
      const rows = db
        .prepare(
          "SELECT version, digest, source, previous_version AS previous FROM bundle_activations ORDER BY seq",
        )
        .all();
      expect(rows).toEqual([
        { version: 1, digest: v1.manifest.digest, source: "store", previous: null },
        { version: 2, digest: v2.manifest.digest, source: "store", previous: 1 },
      ]);
    } finally {
      db.close();
    }
  });
});
