import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { generateSigningKey } from "limitr-engine/adapters/bundles/crypto";
import { InputError } from "limitr-engine/core/errors";
import type { CliContext, CommandOutcome } from "../context.js";

interface KeysOptions {
  out?: string;
  name?: string;
  force?: boolean;
  format?: string;
}

/** `limitr keys generate`: an Ed25519 key pair for signing bundles. The private half is written 0600. */
export async function run(raw: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const options = raw as unknown as KeysOptions;
  const dir = resolve(ctx.cwd, options.out ?? ".limitr/keys");
  const name = options.name ?? "limitr-signing";
  if (!/^[A-Za-z0-9._-]+$/.test(name))
    throw new InputError(`--name "${name}" must be letters, digits, ".", "_" or "-"`);
  const privateFile = join(dir, `${name}.pem`);
  const publicFile = join(dir, `${name}.pub.pem`);
  for (const f of [privateFile, publicFile]) {
    if (existsSync(f) && !options.force)
      throw new InputError(`${f} exists; choose another --name or pass --force to replace it`);
  }
  const pair = generateSigningKey();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(privateFile, pair.privatePem, { mode: 0o600 });
  writeFileSync(publicFile, pair.publicPem, { mode: 0o644 });
  const show = (f: string) => relative(ctx.cwd, f) || f;
  if (options.format === "json") {
    const out = { formatVersion: 1, keyId: pair.keyId, privateKey: privateFile, publicKey: publicFile };
    return { output: JSON.stringify(out, null, 2), exitCode: 0 };
  }
  const lines = [
    `Generated Ed25519 signing key ${pair.keyId}`,
    `  private key: ${show(privateFile)}  (keep secret: a CI secret, never committed)`,
    `  public key:  ${show(publicFile)}  (give to services: publicKeys)`,
    "",
    `Sign with: limitr push --sign-key ${show(privateFile)}`,
  ];
  return { output: lines.join("\n"), exitCode: 0 };
}
