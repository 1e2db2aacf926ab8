import type { CompiledPolicy, Limitr, PolicyInput } from "limitr-engine";
import { readCachedBundle } from "limitr-engine/runtime/bundle-cache";
import { isBundleStoreInput, loadPolicyInput } from "limitr-engine/runtime/policy-input";
import { HttpError } from "./errors.js";

/**
 * The policy the engine decides under, for the routes that read its
 * definitions (a customer's entitlements, a meter). A directory or bundle file
 * is loaded as the engine loads it. With a bundle store, the engine persists
 * each bundle it activates to its cache file; the view re-reads that file
 * when the engine's active digest moves, so both always agree on the digest
 * (until the file is written, the view keeps the previous policy).
 */
export class PolicyView {
  private policy: CompiledPolicy | null;
  private digest: string | null;

  constructor(
    input: PolicyInput,
    private readonly cacheFile: string | null,
  ) {
    if (isBundleStoreInput(input)) {
      this.policy = null;
      this.digest = null;
    } else {
      const active = loadPolicyInput(input);
      this.policy = active.policy;
      this.digest = active.digest;
    }
  }

  /** The active policy of `engine`. */
  async current(engine: Limitr): Promise<CompiledPolicy> {
    const active = engine.status().activeDigest;
    if ((this.digest !== active || this.policy === null) && this.cacheFile !== null) {
      const bundle = await readCachedBundle(this.cacheFile).catch(() => null);
      if (bundle !== null && (bundle.manifest.digest === active || this.policy === null)) {
        this.policy = bundle.policy;
        this.digest = bundle.manifest.digest;
      }
    }
    if (this.policy === null)
      throw new HttpError(503, "not_ready", `the active policy ${active} is not readable yet`);
    return this.policy;
  }
}
