import { describe, expect, it } from "vitest";
import { type ActivationRow, pricingPieces } from "../../src/engine/core/rating/pricing-timeline.js";

const T = (iso: string) => Date.parse(iso);
const OCT = { start: T("2026-10-01T00:00:00Z"), end: T("2026-11-01T00:00:00Z") };
const row = (at: string, version: number, digest = `sha256:${version}`): ActivationRow => ({
  at: T(at),
  version,
  digest,
  source: "store",
});
const summary = (rows: ActivationRow[]) =>
  pricingPieces(rows, OCT).map((p) => [
    p.version,
    new Date(p.start).toISOString(),
    new Date(p.end).toISOString(),
    p.beforeFirstRecord,
  ]);

describe("R14 pricing pieces: the version active at each instant of a billed period", () => {
  it("no activation before the period's end: no pieces (bill falls back to the policy directory)", () => {
    expect(summary([])).toEqual([]);
    expect(summary([row("2026-11-01T00:00:00Z", 1)])).toEqual([]);
  });

  it("the last activation at or before the start prices the start; later ones split the period exactly", () => {
    expect(
      summary([
        row("2026-08-01T00:00:00Z", 1),
        row("2026-09-20T00:00:00Z", 2),
        row("2026-10-15T14:30:00.250Z", 3),
        row("2026-11-02T00:00:00Z", 4),
      ]),
    ).toEqual([
      [2, "2026-10-01T00:00:00.000Z", "2026-10-15T14:30:00.250Z", false],
      [3, "2026-10-15T14:30:00.250Z", "2026-11-01T00:00:00.000Z", false],
    ]);
  });

  it("a rollback to the same content, or a re-activation, is no switch; of activations at one instant the last recorded wins", () => {
    expect(
      summary([
        row("2026-09-01T00:00:00Z", 1, "sha256:a"),
        row("2026-10-05T00:00:00Z", 3, "sha256:a"),
        row("2026-10-10T00:00:00Z", 4, "sha256:b"),
        row("2026-10-10T00:00:00Z", 5, "sha256:c"),
      ]),
    ).toEqual([
      [1, "2026-10-01T00:00:00.000Z", "2026-10-10T00:00:00.000Z", false],
      [5, "2026-10-10T00:00:00.000Z", "2026-11-01T00:00:00.000Z", false],
    ]);
  });

  it("a period starting before the first record is priced from its start by the earliest version, flagged", () => {
    expect(summary([row("2026-10-20T00:00:00Z", 1), row("2026-10-25T00:00:00Z", 2)])).toEqual([
      [1, "2026-10-01T00:00:00.000Z", "2026-10-25T00:00:00.000Z", true],
      [2, "2026-10-25T00:00:00.000Z", "2026-11-01T00:00:00.000Z", false],
    ]);
  });
});
