/**
 * ISO 8601 durations for interval and sliding periods: weeks, days, hours,
 * minutes and seconds (`P30D`, `PT6H`, `P1W`, `P1DT12H`). Months and years
 * are refused: their length varies, and a period that "resets every N" must
 * have one length. Days are 24 hours of elapsed time, whatever the time zone.
 */
const PATTERN = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;
const UNIT_MS = [604_800_000, 86_400_000, 3_600_000, 60_000, 1000] as const;

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;

export type DurationResult = { ms: number } | { problem: string };

/** Length in ms of an ISO duration, or why the text is not one this format accepts. */
export function parseDuration(text: unknown): DurationResult {
  if (typeof text !== "string") return { problem: "is not an ISO 8601 duration (such as P30D or PT6H)" };
  const m = PATTERN.exec(text);
  if (m === null || text === "P" || text.endsWith("T")) {
    if (/^P(\d+Y)?(\d+M)?/.test(text) && /^P[^T]*[YM]/.test(text))
      return { problem: "uses months or years, whose length varies: give days or weeks (P30D, P4W)" };
    return { problem: "is not an ISO 8601 duration (such as P30D, P1W or PT6H)" };
  }
  let ms = 0;
  for (let i = 0; i < UNIT_MS.length; i++) {
    const part = m[i + 1];
    if (part !== undefined) ms += Number(part) * (UNIT_MS[i] as number);
  }
  if (ms <= 0) return { problem: "is zero: a period needs a positive length" };
  return { ms: Math.round(ms) };
}

/** The length of a duration the validator accepted (compiling trusts validation). */
export function durationMs(text: string): number {
  const r = parseDuration(text);
  if ("problem" in r) throw new Error(`duration ${text} ${r.problem}`);
  return r.ms;
}
