import { readFileSync } from "node:fs";
import type { ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { generate, OUTPUT_PATH, POLICY_AJV_OPTIONS, SCHEMA_PATH } from "../../scripts/gen-validators.js";
import { validate as generated } from "../../src/engine/core/policy/policy-validator.generated.js";

describe("schemas/policy.schema.json and the generated validator", () => {
  it("the committed validator is what the generator produces from the schema (run `npm run gen:validators`)", () => {
    const fresh = generate(readFileSync(SCHEMA_PATH, "utf8"));
    expect(readFileSync(OUTPUT_PATH, "utf8")).toBe(fresh);
  });

  it("reports the same errors as ajv compiling the schema at run time", () => {
    const compiled = new Ajv2020(POLICY_AJV_OPTIONS).compile(JSON.parse(readFileSync(SCHEMA_PATH, "utf8")));
    const inputs: unknown[] = [
      { limitr: 1, currency: "USD", meters: { api_calls: { unit: "call" } } },
      { limitr: 2, meterz: {}, plans: { pro: { price: "abc", entitlements: [{ meter: 3 }] } } },
      { limitr: 1, customers: { "-bad": { plan: 7 } }, alerts: [{ when: {} }] },
      "not a map",
    ];
    const validate = generated as ValidateFunction;
    let errors = 0;
    for (const input of inputs) {
      const ok = validate(input);
      expect(compiled(input)).toBe(ok);
      expect(validate.errors ?? null).toEqual(compiled.errors ?? null);
      errors += validate.errors?.length ?? 0;
    }
    expect(errors).toBeGreaterThan(5);
  });
});
