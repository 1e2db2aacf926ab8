import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";

/** The Redis server the lease tests run against (a shared one: every test keeps to its own key prefix). */
export const REDIS_URL = process.env.LIMITR_TEST_REDIS ?? "redis://127.0.0.1:6379/0";

/** The child process that holds leases in the multi-process tests (runs the built engine). */
export const WORKER = fileURLToPath(new URL("./lease-worker.mjs", import.meta.url));

export async function connect(): Promise<Redis> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
  } catch (err) {
    throw new Error(`the lease tests need a Redis server at ${REDIS_URL} (set LIMITR_TEST_REDIS): ${err}`);
  }
  return redis;
}

/** A fresh key prefix for one test. */
export function testPrefix(): string {
  return `limitr-test:${randomBytes(6).toString("hex")}:`;
}

/** Deletes every key under `prefix` (and nothing else). */
export async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== "0");
}
