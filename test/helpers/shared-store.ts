import type { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { dropPrefix, connect as redisConnect, testPrefix } from "../redis/redis-helpers.js";
import { pgSchema } from "./pg-schema.js";

/**
 * What a test of a shared store (Postgres + Redis) needs, cleaned up after
 * the file: a Postgres schema of its own per test (`fresh`), a Redis key
 * prefix of its own (`prefixed`) and a Redis connection to look at the keys.
 */
export function sharedStoreResources(schemaPrefix: string): {
  readonly redis: Redis;
  fresh(): { name: string; url: string };
  prefixed(): string;
} {
  const schemas: { drop: () => Promise<void> }[] = [];
  const prefixes: string[] = [];
  let redis: Redis | undefined;
  beforeAll(async () => {
    redis = await redisConnect();
  });
  afterAll(async () => {
    for (const s of schemas) await s.drop();
    if (redis === undefined) return;
    for (const p of prefixes) await dropPrefix(redis, p);
    redis.disconnect();
  });
  return {
    get redis(): Redis {
      if (redis === undefined) throw new Error("the Redis connection opens in beforeAll");
      return redis;
    },
    fresh() {
      const s = pgSchema(schemaPrefix);
      schemas.push(s);
      return s;
    },
    prefixed() {
      const p = testPrefix();
      prefixes.push(p);
      return p;
    },
  };
}
