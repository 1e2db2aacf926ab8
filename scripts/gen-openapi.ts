/** Write schemas/openapi.json: the OpenAPI document `limitr serve` serves at /openapi.json. */
import { writeFileSync } from "node:fs";
import { openApiDocument, openApiText } from "../src/cli/serve/openapi.js";

writeFileSync(new URL("../schemas/openapi.json", import.meta.url), openApiText(await openApiDocument()));
