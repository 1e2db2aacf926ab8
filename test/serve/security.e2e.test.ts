import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { ApiKeys, isLoopback } from "../../src/cli/serve/auth.js";
import { limitr } from "../cli/run-cli.js";
import { POLICIES, serve } from "./serve-process.js";

const call = { customer: "sec", entitlement: "api" };

describe("API keys (SPEC §13)", () => {
  it("LIMITR_API_KEYS: every listed key works (rotation); a missing or wrong key is a 401", async () => {
    const s = await serve(["--policies", POLICIES, "--store", "memory"], {
      LIMITR_API_KEYS: "old-key, new-key",
    });
    try {
      const none = await s.post("/v1/check", call, { authorization: "" });
      expect(none).toMatchObject({ status: 401, body: { error: { code: "unauthorized" } } });
      expect(none.headers.get("www-authenticate")).toContain("Bearer");
      expect((await s.post("/v1/check", call, { authorization: "Bearer old-ke" })).status).toBe(401);
      expect((await s.post("/v1/check", call, { authorization: "Basic old-key" })).status).toBe(401);
      expect((await s.post("/v1/check", call, { authorization: "Bearer old-key" })).status).toBe(200);
      expect((await s.post("/v1/check", call, { authorization: "Bearer new-key" })).status).toBe(200);
      expect((await s.get("/metrics", { authorization: "" })).status).toBe(401);
      expect((await s.get("/healthz", { authorization: "" })).status).toBe(200);
      expect((await s.get("/readyz", { authorization: "" })).status).toBe(200);
      // The router decodes percent-escapes: an escaped path reaches the same route and needs the key too.
      expect((await s.post("/%761/check", call, { authorization: "" })).status).toBe(401);
      expect((await s.get("/%6detrics", { authorization: "" })).status).toBe(401);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it("keys are compared as digests: a prefix, a longer key or an empty key never matches", () => {
    const keys = new ApiKeys(["k-123"]);
    expect(keys.accepts("Bearer k-123")).toBe(true);
    expect(keys.accepts("bearer k-123")).toBe(true);
    for (const h of [undefined, "", "Bearer ", "Bearer k-12", "Bearer k-1234", "k-123", "Bearer k-123 x"])
      expect(keys.accepts(h)).toBe(false);
    expect(ApiKeys.fromEnv(" , ").enabled).toBe(false);
  });

  it("refuses to bind a non-loopback address without API keys (exit 64)", async () => {
    const r = await limitr([
      "serve",
      "--host",
      "0.0.0.0",
      "--port",
      "0",
      "--policies",
      POLICIES,
      "--store",
      "memory",
    ]);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain("LIMITR_API_KEYS");
    expect(r.stdout).toBe("");
    expect(isLoopback("127.0.0.1") && isLoopback("::1") && isLoopback("localhost")).toBe(true);
    expect(isLoopback("0.0.0.0") || isLoopback("10.0.0.1")).toBe(false);
  });
});

describe("slow clients cannot hold the server", () => {
  it("a client that trickles its headers gets a 408 and is cut off; others are served meanwhile", async () => {
    const s = await serve(["--policies", POLICIES, "--store", "memory", "--request-timeout", "1000"]);
    try {
      const { port } = new URL(s.url);
      const socket = connect(Number(port), "127.0.0.1");
      let received = "";
      socket.on("data", (d) => {
        received += d.toString();
      });
      const closed = new Promise<number>((resolve) => socket.on("close", () => resolve(Date.now())));
      const started = Date.now();
      socket.write("POST /v1/check HTTP/1.1\r\nHost: x\r\n");
      const drip = setInterval(() => {
        if (!socket.destroyed) socket.write("X-Slow: y\r\n");
      }, 200);
      const other = await s.post("/v1/check", call);
      expect(other.status).toBe(200);
      const at = await closed;
      clearInterval(drip);
      expect(at - started).toBeLessThan(4000);
      expect(received).toContain("408");
      expect(received).toContain('"code":"request_timeout"');
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });
});
