import { resolve } from "node:path";
import { nodeBundleCrypto, trustedKeysFromPem } from "../adapters/bundles/crypto.js";
import { compiledPolicyProblemsSync, loadCompiledChecker } from "../adapters/policy-cache.js";
import { type Bundle, checkEnvironmentName } from "../core/bundles/manifest.js";
import { type TrustedKey, type VerifyResult, verifyBundle } from "../core/bundles/verify.js";
import type { EngineStore } from "../core/engine/store-port.js";
import { InputError, PolicyError } from "../core/errors.js";
import { cacheFileFor, readCachedBundle, saveCachedBundle } from "./bundle-cache.js";
import {
  deadline,
  fetchCandidate,
  isUrl,
  PollFailure,
  type PollSource,
  pollSource,
} from "./bundle-source.js";
import type { PolicyNotice } from "./events.js";
import type { BundleStoreInput } from "./policy-input.js";

/** The next poll's delay: `pollMs` ±20 %, so a fleet started together does not poll in step. */
export function jitteredDelay(pollMs: number, random: () => number = Math.random): number {
  return Math.round(pollMs * (0.8 + 0.4 * random()));
}

/** What the engine does with the loader's findings. */
export interface LoaderHooks {
  /** Swap the engine onto a verified bundle; throwing keeps the active one. */
  activate(bundle: Bundle): void;
  notify(notice: PolicyNotice): void;
}

export interface LoaderStatus {
  source: "store" | "cache";
  lastCheckAt: number | null;
  lastSuccessAt: number | null;
  lastError: string | null;
}

/**
 * Loads an environment's current bundle at open and keeps polling it (SPEC
 * §7, R15): every candidate is verified (digest, signature, lineage, version,
 * validation) against the active bundle before the engine swaps onto it; any
 * failure keeps the last-known-good bundle and is reported in the status and
 * as a `policy` event. Polls are chained (one ends before the next is
 * scheduled), jittered and on unref'd timers.
 */
export class BundleLoader {
  private active: Bundle;
  private source: "store" | "cache";
  private lastCheckAt: number | null = null;
  private lastSuccessAt: number | null = null;
  private lastError: string | null = null;
  /** The failure last reported as an event, so a failure that persists is reported once. */
  private reported: string | null = null;
  private hooks: LoaderHooks | null = null;
  private timer: NodeJS.Timeout | null = null;
  private inflight: Promise<void> | null = null;
  private closed = false;
  private readonly abort = new AbortController();

  private constructor(
    private readonly poller: PollSource,
    /** Bundles must name this environment (unset when only a URL was given). */
    private readonly env: string | undefined,
    private readonly keys: TrustedKey[],
    private readonly pollMs: number,
    private readonly timeoutMs: number,
    private readonly cacheFile: string | null,
    private readonly clock: () => number,
    initial: { bundle: Bundle; source: "store" | "cache" },
  ) {
    this.active = initial.bundle;
    this.source = initial.source;
  }

  /**
   * Cold start: the persisted bundle (re-verified) is the baseline, then the
   * store's current bundle is fetched and verified against it, so a restart
   * never goes back to an older version than the one last run. Throws a
   * PolicyError when neither yields a bundle.
   */
  static async open(
    input: BundleStoreInput,
    store: string | EngineStore,
    clock: () => number,
  ): Promise<BundleLoader> {
    const { location, env, checkEnv } = locate(input);
    // The validator (schema, semantic rules) is loaded with the first bundle store, not with the engine.
    validator ??= await loadCompiledChecker();
    const pollMs = positive("pollMs", input.pollMs, 10_000);
    const timeoutMs = positive("timeoutMs", input.timeoutMs, 10_000);
    const maxBytes = positive("maxBundleBytes", input.maxBundleBytes, DEFAULT_MAX_BUNDLE_BYTES);
    let keys: TrustedKey[];
    try {
      keys = trustedKeysFromPem(input.publicKeys ?? []);
    } catch (err) {
      throw new InputError(`policy.publicKeys must be PEM public keys: ${(err as Error).message}`);
    }
    const cacheFile = cacheFileFor(input.cacheDir, env, store);
    const poller = pollSource(location, maxBytes);
    const check = (bundle: Bundle, current: Bundle | null) =>
      verify(bundle, keys, checkEnv ? env : undefined, current);

    let cached: Bundle | null = null;
    let cacheProblem: string | null = null;
    if (cacheFile !== null) {
      try {
        cached = await readCachedBundle(cacheFile);
        const r = cached && check(cached, null);
        if (r && !r.ok) {
          cacheProblem = `the cached bundle ${cacheFile} was rejected: ${r.message}`;
          cached = null;
        }
      } catch (err) {
        cacheProblem = `the cached bundle ${cacheFile} is unreadable: ${(err as Error).message}`;
      }
    }
    const at = clock();
    let fetched: Bundle | null = null;
    let error: string | null = null;
    // The whole fetch (pointer and blob) has `timeoutMs`: with a cache, a host that never answers delays open by that much at most.
    const limit = deadline(null, timeoutMs, `fetching ${location}`);
    try {
      const candidate = await fetchCandidate(poller, cached, limit.signal);
      if (candidate !== null) {
        const r = check(candidate.bundle, cached);
        if (!r.ok) throw new PollFailure(r.reason, candidate.bundle.manifest.version, r.message);
        candidate.commit();
        fetched = r.noop ? cached : candidate.bundle;
      } else fetched = cached;
    } catch (err) {
      error = (err as Error).message;
    } finally {
      limit.done();
    }
    const bundle = fetched ?? cached;
    if (bundle === null) {
      const why = [error, cacheProblem ?? (cacheFile ? `no cached bundle at ${cacheFile}` : null)];
      throw new PolicyError(
        `cannot load a policy bundle from ${location}: ${why.filter(Boolean).join("; ")}`,
      );
    }
    const loader = new BundleLoader(
      poller,
      checkEnv ? env : undefined,
      keys,
      pollMs,
      timeoutMs,
      cacheFile,
      clock,
      {
        bundle,
        source: fetched ? "store" : "cache",
      },
    );
    loader.lastCheckAt = at;
    if (fetched) loader.lastSuccessAt = at;
    loader.lastError = error;
    if (fetched && fetched !== cached) await loader.persist(fetched);
    return loader;
  }

  get bundle(): Bundle {
    return this.active;
  }

  status(): LoaderStatus {
    return {
      source: this.source,
      lastCheckAt: this.lastCheckAt,
      lastSuccessAt: this.lastSuccessAt,
      lastError: this.lastError,
    };
  }

  /** Begin polling. */
  start(hooks: LoaderHooks): void {
    this.hooks = hooks;
    this.schedule();
  }

  /** Stop polling and wait for a poll in flight to end (its request is aborted). */
  async stop(): Promise<void> {
    this.stopSync();
    await this.inflight;
  }

  stopSync(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.abort.abort();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.inflight = this.poll().finally(() => {
        this.inflight = null;
        this.schedule();
      });
    }, jitteredDelay(this.pollMs)).unref();
  }

  /** One poll: never throws; the outcome lands in the status and, when it changes something, in an event. */
  private async poll(): Promise<void> {
    const at = this.clock();
    this.lastCheckAt = at;
    const limit = deadline(this.abort.signal, this.timeoutMs, `fetching ${this.poller.location}`);
    try {
      const candidate = await fetchCandidate(this.poller, this.active, limit.signal);
      limit.done();
      if (this.closed) return;
      let activated: Bundle | null = null;
      if (candidate !== null) {
        const r = verify(candidate.bundle, this.keys, this.env, this.active);
        if (!r.ok) throw new PollFailure(r.reason, candidate.bundle.manifest.version, r.message);
        if (!r.noop) activated = this.swap(candidate.bundle, at);
        candidate.commit();
      }
      this.lastSuccessAt = at;
      this.lastError = null;
      this.reported = null;
      this.source = "store";
      if (activated !== null) await this.persist(activated);
    } catch (err) {
      if (this.closed) return;
      const f =
        err instanceof PollFailure ? err : new PollFailure("fetch_failed", null, (err as Error).message);
      this.lastError = f.message;
      const key = `${f.reason}|${f.version}`;
      if (key === this.reported) return;
      this.reported = key;
      this.hooks?.notify({
        type: "rejected",
        version: f.version,
        reason: f.reason,
        message: f.message,
        activeVersion: this.active.manifest.version,
        at,
      });
    } finally {
      limit.done();
    }
  }

  /** Activate a verified bundle in the engine; returns it. */
  private swap(bundle: Bundle, at: number): Bundle {
    const previous = this.active.manifest;
    try {
      this.hooks?.activate(bundle);
    } catch (err) {
      throw new PollFailure("invalid_policy", bundle.manifest.version, (err as Error).message);
    }
    this.active = bundle;
    this.source = "store";
    this.hooks?.notify({
      type: "activated",
      version: bundle.manifest.version,
      digest: bundle.manifest.digest,
      previousVersion: previous.version,
      previousDigest: previous.digest,
      at,
    });
    return bundle;
  }

  /** Persist a verified bundle for cold starts; a failure is reported, never fatal. */
  private async persist(bundle: Bundle): Promise<void> {
    if (this.cacheFile === null) return;
    try {
      await saveCachedBundle(this.cacheFile, bundle, this.poller.location, new Date().toISOString());
    } catch (err) {
      this.lastError = `version ${bundle.manifest.version} is active but could not be saved to ${this.cacheFile}: ${(err as Error).message}`;
    }
  }
}

/** Blobs and pointers larger than this are refused while they download (`maxBundleBytes`). */
export const DEFAULT_MAX_BUNDLE_BYTES = 32 * 1024 * 1024;

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!(typeof v === "number" && v > 0 && Number.isFinite(v)))
    throw new InputError(`policy.${name} must be a positive number (got ${String(value)})`);
  return v;
}

/** Where the environment is, its name (for the cache file), and whether bundles must name it. */
function locate(input: BundleStoreInput): { location: string; env: string; checkEnv: boolean } {
  if (input.url !== undefined) {
    const env = input.env ?? input.url.replace(/\/+$/, "").split("/").pop() ?? "";
    const bad = checkEnvironmentName(env);
    if (bad) throw new InputError(`policy.env: ${bad}`);
    return {
      location: isUrl(input.url) ? input.url : resolve(input.url),
      env,
      checkEnv: input.env !== undefined,
    };
  }
  const env = input.env;
  if (env === undefined) throw new InputError('policy.env is required with policy.store (e.g. "production")');
  const bad = checkEnvironmentName(env);
  if (bad) throw new InputError(`policy.env: ${bad}`);
  const store = input.store as string;
  const location = isUrl(store)
    ? `${store.replace(/\/+$/, "")}/${encodeURIComponent(env)}`
    : resolve(store, env);
  return { location, env, checkEnv: true };
}

/** `validateCompiledPolicy`, loaded by the first `BundleLoader.open`. */
let validator: ((policy: unknown) => string[]) | undefined;

function verify(
  bundle: Bundle,
  keys: TrustedKey[],
  environment: string | undefined,
  current: Bundle | null,
): VerifyResult {
  return verifyBundle(bundle, {
    crypto: nodeBundleCrypto,
    publicKeys: keys,
    current: current?.manifest ?? null,
    environment,
    // Called once the policy's digest is checked against the manifest's: a policy found sound before is not checked again.
    validate: (policy) => {
      if (!validator) throw new Error("BundleLoader.open loads the bundle validator before any check");
      return compiledPolicyProblemsSync(policy, bundle.manifest.digest, validator);
    },
  });
}
