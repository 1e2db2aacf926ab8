import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generate, OUTPUT_PATH, SCHEMA_PATH } from "../../scripts/gen-types.js";

describe("schemas/policy.schema.json and the generated types", () => {
  it("the committed types are what the generator produces from the schema (run `npm run gen:types`)", async () => {
    const fresh = await generate(readFileSync(SCHEMA_PATH, "utf8"));
    expect(readFileSync(OUTPUT_PATH, "utf8")).toBe(fresh);
  });
});
