import { createHash } from "node:crypto";

/**
 * Redis Cluster hash slots. A script may only touch keys of one slot, so the
 * keys one script call reads or writes share a hash tag (`{...}`), and a call
 * over many pools is split into one call per slot on a cluster.
 */

export const SLOTS = 16_384;

/** CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with. */
const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] as number);
  return crc;
}

/** The part of a key Redis hashes: the first non-empty `{...}`, else the whole key. */
export function hashedPart(key: string): string {
  const open = key.indexOf("{");
  if (open < 0) return key;
  const close = key.indexOf("}", open + 1);
  if (close < 0 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

/** The cluster slot of a key (as `CLUSTER KEYSLOT` computes it). */
export function keySlot(key: string): number {
  return crc16(Buffer.from(hashedPart(key), "utf8")) % SLOTS;
}

/**
 * A hash tag for a name: `{name}`, or `{#<sha1>}` when the name holds a brace
 * (a `}` inside would end the tag early and the keys of one pool could land in
 * different slots).
 */
export function hashTag(name: string): string {
  if (!/[{}]/.test(name)) return `{${name}}`;
  return `{#${createHash("sha1").update(name).digest("hex")}}`;
}

/** Indexes of `items` grouped by the slot of their key, in first-seen order of slots. */
export function bySlot<T>(items: readonly T[], keyOf: (item: T) => string): number[][] {
  const groups = new Map<number, number[]>();
  items.forEach((item, i) => {
    const slot = keySlot(keyOf(item));
    const group = groups.get(slot);
    if (group) group.push(i);
    else groups.set(slot, [i]);
  });
  return [...groups.values()];
}

/** Sends one script call of a batch: a command name and its arguments. */
export type Send = (command: string, args: readonly (string | number)[]) => Promise<unknown>;

/**
 * A cluster client as far as batching by node needs it (an ioredis `Cluster`):
 * `slots[slot]` lists the nodes serving a slot (master first), and a pipeline
 * takes commands whose keys are all served by the same nodes.
 */
export interface NodeRouter {
  readonly slots: readonly (readonly string[] | undefined)[];
  pipeline(): {
    exec(): Promise<[Error | null, unknown][] | null>;
  };
}

/**
 * Run `call` once per slot group (concurrently) and put the replies back in
 * the order of `items`. Without `split`, one call for everything. A group
 * whose call fails fails alone ({@link PartialReplyError}). With a `router`
 * (a cluster client), the calls of slots served by one node go out in one
 * pipeline: one round trip per node ({@link NodeBatch}).
 */
export async function perSlot<T, R>(
  items: readonly T[],
  split: boolean,
  keyOf: (item: T) => string,
  call: (group: T[], send?: Send) => Promise<R[]>,
  router?: { readonly cluster: NodeRouter; readonly direct: Send; readonly count: () => void },
): Promise<R[]> {
  if (!split) return call([...items]);
  const groups = bySlot(items, keyOf);
  if (groups.length === 1) return call([...items]);
  const batch = router === undefined ? undefined : new NodeBatch(router.cluster, router.direct, router.count);
  const calls = groups.map((g) => {
    const group = g.map((i) => items[i] as T);
    return call(group, batch?.sender(keySlot(keyOf(group[0] as T))));
  });
  batch?.flush();
  return gather(items.length, groups, calls);
}

type Fn = (...args: readonly (string | number)[]) => unknown;
type Pipelined = { exec(): Promise<[Error | null, unknown][] | null> } & {
  [command: string]: Fn | undefined;
};

/** Errors a cluster answers before running a command: sending it again alone is safe. */
const NOT_RUN = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /;

/**
 * The script calls of one batch, queued by slot and sent in one pipeline per
 * node (the node serving the slot in the client's slot map). Each call keeps
 * its own reply or error: one failing fails alone. A call the node did not
 * run (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`: the slot map was stale, or a
 * failover is under way) is sent again alone with `direct`, which ioredis
 * redirects and retries as any single call; so is every call of a pipeline
 * ioredis refuses as a whole before sending it (its slot map changed
 * meanwhile). A node with one call gets it alone, without a pipeline.
 */
export class NodeBatch {
  private readonly queued: {
    slot: number;
    command: string;
    args: readonly (string | number)[];
    resolve: (reply: unknown) => void;
    reject: (err: unknown) => void;
  }[] = [];

  constructor(
    private readonly cluster: NodeRouter,
    private readonly direct: Send,
    private readonly count: () => void,
  ) {}

  /** A `Send` that queues the call for `flush` (to be called after every call was queued). */
  sender(slot: number): Send {
    return (command, args) =>
      new Promise((resolve, reject) => {
        this.queued.push({ slot, command, args, resolve, reject });
      });
  }

  flush(): void {
    const byNode = new Map<string, typeof this.queued>();
    for (const q of this.queued) {
      const nodes = this.cluster.slots[q.slot];
      const node = nodes === undefined ? `?${q.slot}` : nodes.join(";");
      const group = byNode.get(node);
      if (group) group.push(q);
      else byNode.set(node, [q]);
    }
    this.queued.length = 0;
    for (const group of byNode.values()) {
      if (group.length === 1) {
        this.alone(group[0] as (typeof group)[number]);
        continue;
      }
      const pipeline = this.cluster.pipeline() as Pipelined;
      for (const q of group) (pipeline[q.command] as Fn).call(pipeline, ...q.args);
      this.count();
      pipeline.exec().then(
        (replies) => {
          group.forEach((q, k) => {
            const [err, reply] = replies?.[k] ?? [new Error("no reply in the pipeline"), undefined];
            if (err === null) q.resolve(reply);
            else if (NOT_RUN.test(err.message)) this.alone(q);
            else q.reject(err);
          });
        },
        () => {
          for (const q of group) this.alone(q);
        },
      );
    }
  }

  private alone(q: (typeof this.queued)[number]): void {
    this.direct(q.command, q.args).then(q.resolve, q.reject);
  }
}

/**
 * Some calls of a batch failed and others did not. Each call is atomic on its
 * own, so the others' effects are in Redis: `replies` holds them in the order
 * of the batch's items (undefined for the items of failed calls), for the
 * caller to apply rather than retry (a report retried would count twice).
 */
export class PartialReplyError<R> extends Error {
  constructor(
    readonly replies: readonly (R | undefined)[],
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = "PartialReplyError";
  }
}

/**
 * The replies of concurrent calls, each over the items of `groups` (indexes
 * into a batch of `n`), in the batch's order. When every call failed, the
 * first failure; when some did, a {@link PartialReplyError} with the rest.
 */
export async function gather<R>(
  n: number,
  groups: readonly (readonly number[])[],
  calls: readonly Promise<readonly R[]>[],
): Promise<R[]> {
  const settled = await Promise.allSettled(calls);
  const out = new Array<R | undefined>(n);
  let failure: { reason: unknown } | null = null;
  let answered = false;
  settled.forEach((s, k) => {
    const group = groups[k] as readonly number[];
    if (s.status === "fulfilled") {
      answered = true;
      group.forEach((i, j) => {
        out[i] = s.value[j];
      });
      return;
    }
    failure ??= { reason: s.reason instanceof PartialReplyError ? s.reason.cause : s.reason };
    if (s.reason instanceof PartialReplyError) {
      group.forEach((i, j) => {
        const reply = (s.reason as PartialReplyError<R>).replies[j];
        if (reply !== undefined) {
          answered = true;
          out[i] = reply;
        }
      });
    }
  });
  if (failure === null) return out as R[];
  if (!answered) throw (failure as { reason: unknown }).reason;
  throw new PartialReplyError(out, (failure as { reason: unknown }).reason);
}
