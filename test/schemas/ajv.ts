import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { ROOT } from "../gitops/helpers.js";

/**
 * Every schema under schemas/ registered with ajv in strict mode, for the
 * tests that check real outputs against them.
 */
export const SCHEMAS = join(ROOT, "schemas");
export const schemaFiles = [
  // openapi.json is the OpenAPI document of `limitr serve`, not a JSON Schema (test/serve pins it).
  ...readdirSync(SCHEMAS).filter((f) => f.endsWith(".json") && f !== "openapi.json"),
  ...readdirSync(join(SCHEMAS, "cli"))
    .filter((f) => f.endsWith(".json"))
    .map((f) => `cli/${f}`),
];

/**
 * policy.schema.json puts `required` inside if/then without repeating the
 * properties there, which ajv's strictRequired flags; the validator compiles
 * it without that one check, and so does this test. Everything else is strict.
 */
const LENIENT_REQUIRED = new Set(["policy.schema.json"]);
export const strict = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
const policyAjv = new Ajv2020({
  strict: true,
  strictRequired: false,
  allowUnionTypes: true,
  allErrors: true,
});
for (const a of [strict, policyAjv]) addFormats.default(a);
for (const f of schemaFiles) {
  const a = LENIENT_REQUIRED.has(f) ? policyAjv : strict;
  a.addSchema(JSON.parse(readFileSync(join(SCHEMAS, f), "utf8")));
}
export const ajvFor = (file: string) => (LENIENT_REQUIRED.has(file) ? policyAjv : strict);

export const schemaId = (file: string) => `https://limitr.dev/schemas/${file}`;

/** Validation errors as short strings (empty when valid), so a failure shows what disagreed. */
export function problems(file: string, data: unknown): string[] {
  const validate = ajvFor(file).getSchema(schemaId(file));
  if (!validate) throw new Error(`schema ${file} is not registered`);
  return validate(data) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}
