import { InputError } from "../../core/errors.js";

const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Resolve `${NAME}` references from the environment; a missing variable is an error naming it. */
export function resolveEnvRefs(text: string, env: NodeJS.ProcessEnv, what: string): string {
  return text.replace(REF, (_, name: string) => {
    const value = env[name];
    if (value === undefined || value === "")
      throw new InputError(`${what} needs the environment variable ${name}`);
    return value;
  });
}
