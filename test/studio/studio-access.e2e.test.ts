import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { policyRepo, type RunningStudio, startStudio } from "./studio-helpers.js";

/** A raw HTTP request, so the Host and Origin headers are exactly what a hostile page could send. */
function raw(
  studio: RunningStudio,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const url = new URL(studio.origin);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      let text = "";
      res.on("data", (d) => (text += String(d)));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("limitr studio access", () => {
  let studio: RunningStudio;
  let repo: ReturnType<typeof policyRepo>;
  let host: string;
  const json = { "content-type": "application/json" };
  const change = JSON.stringify({ plan: "pro", entitlement: "seats", values: { limit: "6" } });

  beforeAll(async () => {
    repo = policyRepo();
    studio = await startStudio(repo.dir);
    host = new URL(studio.origin).host;
  }, 60_000);
  afterAll(() => studio?.stop());

  it("prints a loopback URL with a long random token", () => {
    expect(studio.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{32}$/);
  });

  it("answers nothing without the right token", async () => {
    const attempts: Record<string, string>[] = [
      {},
      { "x-limitr-studio-token": "guess" },
      { cookie: "limitr_studio=guess" },
    ];
    for (const headers of attempts) {
      expect((await raw(studio, "GET", "/api/policy", { host, ...headers })).status).toBe(401);
      expect((await raw(studio, "GET", "/", { host, ...headers })).status).toBe(401);
    }
    expect((await raw(studio, "GET", "/assets/x.js?token=guess", { host })).status).toBe(401);
  });

  it("trades the URL's token for an HttpOnly, SameSite=Strict cookie that then lets the page in", async () => {
    const first = await raw(studio, "GET", `/?token=${studio.token}`, { host });
    expect(first.status).toBe(303);
    expect(first.headers.location).toBe("/");
    const cookie = String(first.headers["set-cookie"]);
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    const page = await raw(studio, "GET", "/", { host, cookie: cookie.split(";")[0]! });
    expect(page.status).toBe(200);
    expect(page.body).toContain('<div id="app">');
  });

  it("serves files from the built app only", async () => {
    const headers = { host, "x-limitr-studio-token": studio.token };
    for (const path of ["/%2e%2e/%2e%2e/%2e%2e/package.json", "/..%2f..%2f..%2fpackage.json"]) {
      const answer = await raw(studio, "GET", path, headers);
      expect(answer.status).toBe(200);
      expect(answer.body).toContain('<div id="app">');
      expect(answer.body).not.toContain("limitr-cli");
    }
    // A malformed escape is the client's mistake, not a failure of the studio.
    expect((await raw(studio, "GET", "/%E0%A4%A", headers)).status).toBe(400);
  });

  it("refuses other Host names and changes that do not come from the studio's own origin", async () => {
    const token = { "x-limitr-studio-token": studio.token };
    const port = new URL(studio.origin).port;
    expect((await raw(studio, "GET", "/api/policy", { ...token, host: `evil.example:${port}` })).status).toBe(
      403,
    );
    const others: [string, unknown][] = [
      ["/api/apply", change],
      ["/api/value/apply", { path: ["customers", "globex", "credits"], value: [] }],
      ["/api/plans/copy", { from: "pro", id: "pro-2", name: "Pro 2" }],
      ["/api/rollback", { env: "staging", to: 1 }],
      ["/api/save", { branch: "pricing/x", message: "x", push: true }],
    ];
    for (const origin of [undefined, "http://evil.example", `http://localhost:${Number(port) + 1}`]) {
      const headers = { ...token, ...json, host, ...(origin ? { origin } : {}) };
      for (const [path, body] of others)
        expect((await raw(studio, "POST", path, headers, JSON.stringify(body))).status, path).toBe(403);
    }
    const badPath = await raw(studio, "GET", "/api/value?path=%5Bnot-json", { ...token, host });
    expect(badPath.status).toBe(422);
    expect(JSON.parse(badPath.body).error.message).toContain("path must be a JSON list of keys");
    expect(repo.git("status", "--porcelain")).toBe("");
    const ok = await raw(
      studio,
      "POST",
      "/api/apply",
      { ...token, ...json, host, origin: studio.origin },
      change,
    );
    expect(ok.status).toBe(200);
    expect(repo.git("status", "--porcelain")).toBe("M policies/plans.yaml");
  });

  it("never saves on the default branch, and saves nothing that is not a change", async () => {
    const headers = { "x-limitr-studio-token": studio.token, ...json, host, origin: studio.origin };
    const save = (branch: string) =>
      raw(studio, "POST", "/api/save", headers, JSON.stringify({ branch, message: "Pro: six seats" }));
    const onMain = await save("main");
    expect(onMain.status).toBe(422);
    expect(JSON.parse(onMain.body).error.message).toContain("never saved on main");
    expect((await save("--force")).status).toBe(422);
    expect((await save("pricing/six-seats")).status).toBe(200);
    expect(repo.git("log", "-1", "--format=%s", "pricing/six-seats")).toBe("Pro: six seats");
    expect(repo.git("rev-list", "--count", "main")).toBe("1");
    const again = await save("pricing/six-seats");
    expect(JSON.parse(again.body).error.message).toContain("nothing to save");
  });
});
