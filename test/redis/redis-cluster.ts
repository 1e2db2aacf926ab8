import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

/**
 * A real Redis Cluster for one test file: `masters` redis-server processes
 * (plus one replica each when `replicas`), on free ports, their state in a
 * temp dir, joined with `redis-cli --cluster create`. Needs only the
 * redis-server and redis-cli binaries (Debian's redis-server package).
 */
export interface RedisClusterHandle {
  /** The nodes' ports, masters first as `--cluster create` was given them. */
  readonly ports: number[];
  /** `redis://127.0.0.1:<first port>`: a seed node for cluster clients. */
  readonly url: string;
  /** A plain connection to one node (no redirections followed). */
  node(port: number): Redis;
  /** The master ports as the cluster sees them now, with their slot ranges. */
  masters(): Promise<{ port: number; id: string; slots: [number, number][] }[]>;
  /**
   * Moves one slot, keys and all, to the master on port `to` while clients go on
   * (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE: what
   * `redis-cli --cluster reshard` does). Clients meanwhile get ASK or TRYAGAIN,
   * then MOVED.
   */
  moveSlot(slot: number, to: number): Promise<void>;
  /** A manual failover (CLUSTER FAILOVER on the master's replica); resolves to the new master's port. */
  failover(masterPort: number): Promise<number>;
  /** SIGKILLs one node (a crash: no chance to hand anything over). */
  kill(port: number): Promise<void>;
  /** Error replies a node sent, by prefix (`MOVED`, `ASK`, `TRYAGAIN`...), from `INFO errorstats`. */
  errors(port: number): Promise<Record<string, number>>;
  /** Waits until every live node reports `cluster_state:ok` and agrees on the slot owners. */
  settled(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Why the real-cluster tests cannot run here, or null when they can. */
export function clusterUnavailable(): string | null {
  for (const bin of ["redis-server", "redis-cli"]) {
    try {
      execFileSync(bin, ["--version"], { stdio: "pipe" });
    } catch {
      return `${bin} is not installed (Debian: apt-get install redis-server)`;
    }
  }
  return null;
}

/** A port whose cluster bus port (+10000) is free too. */
async function freePort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if (taken.has(port) || taken.has(port + 10_000)) continue;
    if ((await bindable(port)) && (await bindable(port + 10_000))) {
      taken.add(port);
      taken.add(port + 10_000);
      return port;
    }
  }
  throw new Error("no free port pair for a Redis Cluster node");
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await probe();
      if (v !== null) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`Redis Cluster: ${what} within ${timeoutMs} ms${last ? `: ${last}` : ""}`);
    await sleep(50);
  }
}

export async function startRedisCluster(
  options: { masters?: number; replicas?: boolean } = {},
): Promise<RedisClusterHandle> {
  const masters = options.masters ?? 3;
  const count = options.replicas ? masters * 2 : masters;
  const dir = mkdtempSync(join(tmpdir(), "limitr-redis-cluster-"));
  const taken = new Set<number>();
  const ports: number[] = [];
  const procs: ChildProcess[] = [];
  const conns = new Map<number, Redis>();
  let stderr = "";
  const node = (port: number): Redis => {
    let c = conns.get(port);
    if (!c) {
      c = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1, lazyConnect: false });
      c.on("error", () => {});
      conns.set(port, c);
    }
    return c;
  };
  const end = (p: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (p.exitCode !== null || p.signalCode !== null) return resolve();
      p.once("exit", () => resolve());
      p.kill("SIGKILL");
    });
  const stop = async () => {
    for (const c of conns.values()) c.disconnect();
    conns.clear();
    await Promise.all(procs.map(end));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < count; i++) {
      const port = await freePort(taken);
      ports.push(port);
      const proc = spawn(
        "redis-server",
        [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          join(dir, `nodes-${port}.conf`),
          // Fast failure detection: a failover in the tests takes a second or two, not fifteen.
          "--cluster-node-timeout",
          "1000",
          // Replicas sync at once instead of waiting five seconds for more replicas to batch.
          "--repl-diskless-sync-delay",
          "0",
          "--dir",
          dir,
          "--save",
          "",
          "--appendonly",
          "no",
          "--daemonize",
          "no",
          "--logfile",
          "",
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      proc.stderr?.on("data", (d: Buffer) => {
        stderr += String(d);
      });
      procs.push(proc);
    }
    await Promise.all(
      ports.map((port) =>
        until(`node ${port} answering PING`, 10_000, async () =>
          (await node(port).ping()) === "PONG" ? true : null,
        ),
      ),
    );
    execFileSync(
      "redis-cli",
      [
        "--cluster",
        "create",
        ...ports.map((p) => `127.0.0.1:${p}`),
        "--cluster-replicas",
        options.replicas ? "1" : "0",
        "--cluster-yes",
      ],
      { stdio: "pipe", timeout: 20_000 },
    );
  } catch (err) {
    await stop();
    throw new Error(`could not start a Redis Cluster: ${err}\n${stderr}`);
  }
  const live = () => ports.filter((_, i) => procs[i]?.exitCode === null && procs[i]?.signalCode === null);
  const masterList = async () => {
    const byPort = new Map<number, { port: number; id: string; slots: [number, number][] }>();
    for (const [from, to, owner] of await node(live()[0] as number).cluster("SLOTS")) {
      const [, port, id] = owner as [string, number, string, unknown];
      let m = byPort.get(port);
      if (!m) byPort.set(port, (m = { port, id, slots: [] }));
      m.slots.push([from, to]);
    }
    return [...byPort.values()].sort((a, b) => a.port - b.port);
  };
  const handle: RedisClusterHandle = {
    ports,
    url: `redis://127.0.0.1:${ports[0]}`,
    node,
    masters: masterList,
    async settled(timeoutMs = 15_000) {
      await until("every node reporting cluster_state:ok with one view of the slots", timeoutMs, async () => {
        const views: string[] = [];
        for (const port of live()) {
          const info = (await node(port).cluster("INFO")) as string;
          if (!info.includes("cluster_state:ok")) return null;
          const slots = await node(port).cluster("SLOTS");
          views.push(
            slots
              .map(([a, b, owner]) => `${a}-${b}:${owner?.[1]}`)
              .sort()
              .join(","),
          );
        }
        if (new Set(views).size !== 1) return null;
        // Every replica has its master's data (a failover then loses nothing).
        for (const port of live()) {
          const repl = await node(port).info("replication");
          if (repl.includes("role:slave") && !repl.includes("master_link_status:up")) return null;
        }
        return true;
      });
    },
    async moveSlot(slot, to) {
      const masters = await masterList();
      const owner = masters.find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b));
      const target = masters.find((m) => m.port === to);
      if (!owner || !target) throw new Error(`moveSlot: no master owns slot ${slot}, or none on port ${to}`);
      if (owner === target) return;
      await node(to).cluster("SETSLOT", slot, "IMPORTING", owner.id);
      await node(owner.port).cluster("SETSLOT", slot, "MIGRATING", target.id);
      for (;;) {
        const keys = (await node(owner.port).cluster("GETKEYSINSLOT", slot, 100)) as string[];
        if (keys.length === 0) break;
        await node(owner.port).migrate("127.0.0.1", to, "", 0, 5000, "KEYS", ...keys);
      }
      // The new owner first, then the old one, then the rest (gossip would tell them too).
      for (const m of [target, owner, ...masters.filter((m) => m !== target && m !== owner)])
        await node(m.port).cluster("SETSLOT", slot, "NODE", target.id);
    },
    async failover(masterPort) {
      const id = (await node(masterPort).cluster("MYID")) as string;
      const replicas = (await node(masterPort).cluster("REPLICAS", id)) as string[];
      const port = Number(/:(\d+)@/.exec(replicas[0] ?? "")?.[1]);
      if (!ports.includes(port)) throw new Error(`failover: master ${masterPort} has no replica`);
      await node(port).cluster("FAILOVER");
      await until(`replica ${port} taking over from ${masterPort}`, 10_000, async () =>
        (await node(port).info("replication")).includes("role:master") ? true : null,
      );
      await handle.settled();
      return port;
    },
    async kill(port) {
      conns.get(port)?.disconnect();
      conns.delete(port);
      await end(procs[ports.indexOf(port)] as ChildProcess);
    },
    async errors(port) {
      const out: Record<string, number> = {};
      for (const m of (await node(port).info("errorstats")).matchAll(/^errorstat_(\w+):count=(\d+)/gm))
        out[m[1] as string] = Number(m[2]);
      return out;
    },
    stop,
  };
  try {
    await handle.settled();
  } catch (err) {
    await stop();
    throw err;
  }
  return handle;
}
