import { POLICY_SCHEMA } from "limitr-engine/core/policy-types.generated";
import { DateTime } from "luxon";
import { describe, expect, it } from "vitest";
import {
  cookieToken,
  hostAllowed,
  originAllowed,
  queryToken,
  sameToken,
} from "../../src/cli/studio/access.js";
import { entitlementFields, formSchemas } from "../../src/cli/studio/form-schema.js";
import { lastClosedMonth } from "../../src/cli/studio/simulation.js";

const ZONE = "America/New_York";
const at = (iso: string) => DateTime.fromISO(iso, { zone: ZONE }).toMillis();

describe("the studio's last closed month", () => {
  it("is the month of the last event when that month has ended", () => {
    const p = lastClosedMonth(at("2026-10-31T23:59:59"), at("2026-12-01T00:00:01"), ZONE);
    expect(p).toEqual({ label: "2026-10", start: at("2026-10-01T00:00"), end: at("2026-11-01T00:00") });
  });

  it("is the month before the current one while usage is still arriving", () => {
    const p = lastClosedMonth(at("2026-12-14T10:00"), at("2026-12-14T10:00:01"), ZONE);
    expect(p.label).toBe("2026-11");
    expect(p.end).toBe(at("2026-12-01T00:00"));
  });

  it("reads month boundaries in the policy's timezone", () => {
    // 02:00 UTC on Nov 1 is still October 31 in New York.
    const last = DateTime.fromISO("2026-11-01T02:00:00Z").toMillis();
    expect(lastClosedMonth(last, at("2027-01-05T00:00"), ZONE).label).toBe("2026-10");
  });
});

describe("the entitlement form", () => {
  it("takes its choices and help from the policy schema", () => {
    const fields = entitlementFields();
    expect(fields.map((f) => [f.key, f.kind])).toEqual([
      ["limit", "count"],
      ["mode", "choice"],
      ["overage", "decimal"],
    ]);
    const defs = (POLICY_SCHEMA as { $defs: Record<string, { enum?: string[]; description?: string }> })
      .$defs;
    const mode = fields.find((f) => f.key === "mode")!;
    expect(mode.choices).toEqual(defs.Mode?.enum);
    expect(mode.empty).toBe("hard (the default)");
    expect(fields.find((f) => f.key === "limit")!.help).toBe(defs.Limit?.description);
    expect(fields.every((f) => f.label.length > 0)).toBe(true);
  });
});

describe("the row forms", () => {
  const defs = (
    POLICY_SCHEMA as {
      $defs: Record<string, { enum?: string[]; required?: string[]; properties?: Record<string, unknown> }>;
    }
  ).$defs;

  it("draw every field from a property of its schema definition", () => {
    for (const [def, form] of Object.entries(formSchemas())) {
      const props = Object.keys(defs[def]?.properties ?? {});
      for (const f of form.fields) expect(props, `${def}.${f.key}`).toContain(f.key);
      expect(form.fields.filter((f) => f.required).map((f) => f.key)).toEqual(
        (defs[def]?.required ?? []).filter((k) => form.fields.some((f) => f.key === k)),
      );
    }
  });

  it("offer the schema's choices: a mode for overrides, calendar periods for a wallet grant", () => {
    const forms = formSchemas();
    const field = (def: string, key: string) => forms[def]!.fields.find((f) => f.key === key)!;
    expect(field("Override", "mode")).toMatchObject({ kind: "choice", choices: defs.Mode?.enum });
    // `every` is a calendar period or an ISO duration: free text, with the calendar periods suggested.
    expect(field("WalletGrant", "every")).toMatchObject({
      kind: "text",
      choices: ["day", "week", "month", "quarter", "year"],
      required: true,
    });
    expect(field("Override", "expires").kind).toBe("date");
    expect(field("Tier", "up_to")).toMatchObject({ kind: "count", required: false });
    expect(field("Credit", "amount")).toMatchObject({ kind: "decimal", required: true, empty: "required" });
  });
});

describe("studio access checks", () => {
  it("accepts only the exact token, from the query or the cookie", () => {
    expect(sameToken("abc", "abc")).toBe(true);
    expect(sameToken("abd", "abc")).toBe(false);
    expect(sameToken("ab", "abc")).toBe(false);
    expect(sameToken(undefined, "abc")).toBe(false);
    expect(queryToken("/?token=x%2By")).toBe("x+y");
    expect(cookieToken("a=1; limitr_studio=t=k; b=2")).toBe("t=k");
    expect(cookieToken("limitr_studiox=1")).toBeUndefined();
  });

  it("accepts only loopback hosts on its port and its own origin", () => {
    expect(hostAllowed("127.0.0.1:4300", 4300)).toBe(true);
    expect(hostAllowed("localhost:4300", 4300)).toBe(true);
    expect(hostAllowed("evil.example:4300", 4300)).toBe(false);
    expect(hostAllowed("127.0.0.1:4301", 4300)).toBe(false);
    expect(originAllowed("http://127.0.0.1:4300", "127.0.0.1:4300")).toBe(true);
    expect(originAllowed("http://evil.example", "127.0.0.1:4300")).toBe(false);
    expect(originAllowed(undefined, "127.0.0.1:4300")).toBe(false);
  });
});
