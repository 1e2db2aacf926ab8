import { buildServer } from "./app.js";
import { ApiKeys } from "./auth.js";

/**
 * The OpenAPI 3.1 document of `limitr serve`, generated from the route
 * schemas: what GET /openapi.json serves and `npm run gen:openapi` writes to
 * schemas/openapi.json.
 */
export async function openApiDocument(): Promise<unknown> {
  const app = await buildServer({
    keys: new ApiKeys([]),
    bodyLimit: 1,
    requestTimeoutMs: 1000,
    keepAliveTimeoutMs: 1000,
    log: () => {},
  });
  try {
    await app.ready();
    return app.swagger();
  } finally {
    await app.close();
  }
}

/** The committed form: two-space indented JSON and a final newline. */
export function openApiText(document: unknown): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
