/**
 * limitr's public library API.
 */
export { PolicyError, UsageError, InputError, ConflictError, CheckFailedError, InternalError, LimitrError } from "./core/errors.js";
export type * from "./core/model.js";
