import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { BundleManifest, BundleSignature } from "../../core/bundles/manifest.js";
import type { BundleCrypto, TrustedKey } from "../../core/bundles/verify.js";
import { canonicalJson } from "../../core/compile.js";
import { InputError } from "../../core/errors.js";
import type { CompiledPolicy } from "../../core/model.js";

/** `sha256:<hex>` of a UTF-8 string. */
export function sha256Digest(text: string): string {
  return `sha256:${createHash("sha256").update(text, "utf8").digest("hex")}`;
}

/**
 * `sha256:<hex>` of the canonical JSON of a compiled policy: the one identity
 * of a policy, shared by bundles, `diff`, `simulate` and the engine's decisions (R14).
 */
export function policyDigestOf(policy: CompiledPolicy): string {
  return sha256Digest(canonicalJson(policy));
}

/** Short id of a public key: the first 16 hex digits of sha256 over its SPKI DER encoding. */
export function keyIdOf(key: KeyObject): string {
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  const der = publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("hex").slice(0, 16);
}

export const nodeBundleCrypto: BundleCrypto = {
  digest: sha256Digest,
  verify: (key, data, signature) => {
    try {
      return verify(null, Buffer.from(data, "utf8"), key as KeyObject, Buffer.from(signature, "base64"));
    } catch {
      return false;
    }
  },
};

export interface GeneratedKeyPair {
  keyId: string;
  privatePem: string;
  publicPem: string;
}

export function generateSigningKey(): GeneratedKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    keyId: keyIdOf(publicKey),
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

function readPem(file: string, what: string, cwd: string): string {
  try {
    return readFileSync(resolve(cwd, file), "utf8");
  } catch (err) {
    throw new InputError(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}

/** Load an Ed25519 private key (PKCS#8 PEM) for signing. */
export function loadSigningKey(file: string, cwd: string = process.cwd()): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(readPem(file, "signing key", cwd));
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`${file} is not a PEM private key (create one with \`limitr keys generate\`)`);
  }
  if (key.asymmetricKeyType !== "ed25519")
    throw new InputError(`${file} is a ${key.asymmetricKeyType} key; limitr signs with Ed25519`);
  return key;
}

/** Load trusted public keys (SPKI PEM; a private key file is accepted and its public half used). */
export function loadTrustedKeys(files: string[], cwd: string = process.cwd()): TrustedKey[] {
  return files.map((file) => {
    let key: KeyObject;
    try {
      key = createPublicKey(readPem(file, "public key", cwd));
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError(`${file} is not a PEM public key`);
    }
    if (key.asymmetricKeyType !== "ed25519") throw new InputError(`${file} is not an Ed25519 key`);
    return { keyId: keyIdOf(key), key };
  });
}

/** Trusted keys from PEM text (a loader configured with key strings rather than files). */
export function trustedKeysFromPem(pems: string[]): TrustedKey[] {
  return pems.map((pem) => {
    const key = createPublicKey(pem);
    return { keyId: keyIdOf(key), key };
  });
}

export function signManifest(manifest: BundleManifest, key: KeyObject): BundleSignature {
  return {
    algorithm: "ed25519",
    keyId: keyIdOf(key),
    value: sign(null, Buffer.from(canonicalJson(manifest), "utf8"), key).toString("base64"),
  };
}
