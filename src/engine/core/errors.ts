/**
 * Typed errors. User-fixable problems carry a message that says what to do;
 * the CLI maps each class to one exit code (SPEC §5) in one place.
 */
export abstract class LimitrError extends Error {
  abstract readonly exitCode: number;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The policy is invalid (schema, semantic, strict warnings). Exit 3. */
export class PolicyError extends LimitrError {
  readonly exitCode = 3;
}

/** Bad flags or arguments. Exit 64. */
export class UsageError extends LimitrError {
  readonly exitCode = 64;
}

/** Bad input data (usage files, stores) or an I/O failure the user can fix. Exit 1. */
export class InputError extends LimitrError {
  readonly exitCode = 1;
}

/** Policy tests failed or a guardrail tripped. Exit 4. */
export class CheckFailedError extends LimitrError {
  readonly exitCode = 4;
}

/** Remote state moved under us (version, signature, lineage). Exit 5. */
export class ConflictError extends LimitrError {
  readonly exitCode = 5;
}

/**
 * A remote service (Stripe, an alert receiver, a bundle store) failed or could
 * not be reached. Exit 1. The message names the remote, what happened and
 * what was committed before the failure.
 */
export class RemoteError extends LimitrError {
  readonly exitCode = 1;
}

/** A bug in limitr. Exit 1, reported with a request to file an issue. */
export class InternalError extends LimitrError {
  readonly exitCode = 1;
}
