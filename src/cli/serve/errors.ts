import { ConflictError, InputError, LimitrError, PolicyError, UsageError } from "limitr-engine";

/** An error with the HTTP status and code it answers with. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What a schema error names: the instance path and, for additionalProperties, the property. */
interface SchemaError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** `body/amount must be number`, naming the property an additionalProperties error is about. */
export function describeErrors(errors: readonly SchemaError[], dataVar: string): string {
  return errors
    .map((e) => {
      const extra = e.keyword === "additionalProperties" ? ` (${String(e.params.additionalProperty)})` : "";
      return `${dataVar}${e.instancePath} ${e.message ?? "is invalid"}${extra}`;
    })
    .join("; ");
}

export interface ErrorBody {
  error: { code: string; message: string };
}

/** Fastify's own errors, by their code: what the client did wrong. */
const FASTIFY: Record<string, [number, string]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: [400, "malformed_json"],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, "malformed_json"],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, "body_too_large"],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, "unsupported_media_type"],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, "invalid_content_length"],
};

/**
 * The one place an error becomes an HTTP answer: `{ error: { code, message } }`
 * with its status. Anything unexpected is a 500 whose message says nothing
 * about the code (no stack trace ever reaches a client); it is reported on
 * stderr through `log`.
 */
export function toHttpError(err: unknown, log: (line: string) => void): { status: number; body: ErrorBody } {
  const e = err as { code?: unknown; statusCode?: unknown; validation?: unknown; message?: unknown };
  const answer = (status: number, code: string, message: string) => ({
    status,
    body: { error: { code, message } },
  });
  if (err instanceof HttpError) return answer(err.status, err.code, err.message);
  if (e && typeof e === "object") {
    if (e.validation) return answer(400, "invalid_request", String(e.message));
    const known = typeof e.code === "string" ? FASTIFY[e.code] : undefined;
    if (known) return answer(known[0], known[1], String(e.message));
    if (err instanceof SyntaxError && e.statusCode === 400) return answer(400, "malformed_json", err.message);
  }
  if (err instanceof LimitrError && /engine is closed/.test(err.message))
    return answer(503, "shutting_down", "the server is shutting down");
  if (err instanceof ConflictError) return answer(409, "conflict", err.message);
  if (err instanceof InputError || err instanceof UsageError || err instanceof PolicyError)
    return answer(422, "invalid_input", err.message);
  const status = typeof e?.statusCode === "number" ? e.statusCode : 500;
  if (status >= 400 && status < 500) return answer(status, "bad_request", String(e.message));
  log(`internal error: ${err instanceof Error ? err.message : String(err)}`);
  return answer(500, "internal", "internal error");
}
