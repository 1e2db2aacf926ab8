import { createHash, timingSafeEqual } from "node:crypto";

/**
 * API keys from `LIMITR_API_KEYS` (comma-separated: several for rotation).
 * Keys are kept as sha256 digests and a presented key is compared with every
 * one of them in constant time, so neither the key's length nor its first
 * differing byte shows in the response time.
 */
export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: string[]) {
    this.digests = keys.map(digest);
  }

  /** The keys of `LIMITR_API_KEYS`; empty entries are ignored. */
  static fromEnv(value: string | undefined): ApiKeys {
    return new ApiKeys(
      (value ?? "")
        .split(",")
        .map((k) => k.trim())
        .filter(Boolean),
    );
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** Whether an `Authorization` header carries one of the keys as `Bearer <key>`. */
  accepts(header: string | undefined): boolean {
    const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
    const presented = digest(match?.[1] ?? "");
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(d, presented) || ok;
    return ok && match !== null;
  }
}

function digest(key: string): Buffer {
  return createHash("sha256").update(key).digest();
}

/** Loopback addresses: the only ones `limitr serve` binds to without API keys. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h) || h === "::ffff:127.0.0.1";
}
