import { describe, expect, it } from "vitest";
import { newEventFields, readEventLine } from "../../src/cli/adapters/usage-files/event-line.js";
import { ndjsonBlock } from "../../src/cli/adapters/usage-files/parsed-batches.js";
import { parseEventRecord, type UsageEvent } from "../../src/engine/core/usage/event.js";

/**
 * The in-place reader of NDJSON lines must give exactly what JSON.parse and
 * parseEventRecord give, or decline (the importer then takes that full path).
 */
const ZONE = "America/New_York";

function full(line: string): UsageEvent | string {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return "invalid JSON";
  }
  const row = parseEventRecord(record, ZONE);
  return row.ok ? row.event : row.reason;
}

function fast(line: string): UsageEvent | null {
  // Embedded in a larger text, as lines are in a block.
  const text = `xx\n${line}\nyy`;
  const f = newEventFields();
  if (!readEventLine(text, 3, 3 + line.length, ZONE, f)) return null;
  return {
    id: text.slice(f.idStart, f.idEnd),
    type: text.slice(f.typeStart, f.typeEnd),
    customer: text.slice(f.customerStart, f.customerEnd),
    ts: f.ts,
    value: Number.isNaN(f.value) ? null : f.value,
    properties: f.propsStart < 0 ? null : text.slice(f.propsStart, f.propsEnd),
  };
}

const base = '"id":"e1","type":"api.call","customer":"acme","timestamp":"2026-10-05T10:00:00Z"';

/** Lines the in-place reader must accept (the common shapes). */
const accepted = [
  `{${base}}`,
  `{${base},"value":12}`,
  `{${base},"value":-0.25}`,
  `{${base},"value":1e3}`,
  `{${base},"value":null}`,
  `{${base},"properties":null}`,
  `{${base},"properties":{}}`,
  `{${base},"properties":{"model":"gpt-4o","input_tokens":46536,"cached":true,"region":null}}`,
  `{${base},"properties":{"ratio":0.5,"neg":-3,"big":999999999999999,"tiny":1e-7}}`,
  `{${base},"properties":{"name":"é € 😀 \u2028"}}`,
  `{"properties":{"a":1},"value":2,"timestamp":"2026-10-05T10:00:00-04:00","customer":"c","type":"t","id":"x"}`,
  ` { "id" : "e1", "type":"t" ,"customer":"c","timestamp":"2026-10-05T10:00:00.123Z" } `,
  `{${base.replace("2026-10-05T10:00:00Z", "2026-10-05T10:00:00")}}`,
  `{${base.replace("2026-10-05T10:00:00Z", "2026-10-05")}}`,
  ...[
    "2026-10-05T23:59:59.999Z",
    "2026-10-05T00:00:00.000Z",
    "2026-10-06T00:00:00.001Z",
    "2028-02-29T12:00:00Z",
    "2000-01-01T00:00:00.000Z",
    "2099-12-31T23:59:59.999Z",
    "2026-10-05T10:00:00.5Z",
    "2026-10-05T10:00:00.123456Z",
    "2026-10-05T10:00:00+0200",
  ].map((ts) => `{${base.replace("2026-10-05T10:00:00Z", ts)}}`),
];

/** Lines it must leave to the full path (which may accept them, with a different text, or refuse them). */
const declined = [
  // Properties whose stored text JSON.stringify would change.
  `{${base},"properties":{"a": 1}}`,
  `{${base},"properties":{"a":1.50}}`,
  `{${base},"properties":{"a":1E3}}`,
  `{${base},"properties":{"a":-0}}`,
  `{${base},"properties":{"a":0.0000001}}`,
  `{${base},"properties":{"a":1,"a":2}}`,
  `{${base},"properties":{"b":1,"1":2}}`,
  `{${base},"properties":{"a":"x\\u0041"}}`,
  `{${base},"properties":{"a\\"b":1}}`,
  `{${base},"properties":{"a":{"b":1}}}`,
  `{${base},"properties":{"a":[1,2]}}`,
  `{${base},"properties":{"a":12345678901234567}}`,
  // Errors: every one is the full path's to word.
  `{${base},"properties":{"__proto__":1}}`,
  `{${base},"properties":{"a":1e16}}`,
  `{${base},"properties":{"a":1e400}}`,
  `{${base},"properties":{"a":01}}`,
  `{${base},"properties":{"a":1,}}`,
  `{${base},"properties":[1]}`,
  `{${base},"properties":"x"}`,
  `{${base},"value":"12"}`,
  `{${base},"value":1e16}`,
  `{${base},"value":1e400}`,
  `{${base},"value":.5}`,
  `{${base},"value":1.}`,
  `{${base},"value":+1}`,
  `{${base},"value":""}`,
  `{${base},"value":true}`,
  `{${base},"extra":1}`,
  `{${base},"id":"again"}`,
  `{${base},}`,
  `{${base}}x`,
  `{${base}`,
  `[${base}]`,
  `{"id":"","type":"t","customer":"c","timestamp":"2026-10-05T10:00:00Z"}`,
  `{"id":42,"type":"t","customer":"c","timestamp":"2026-10-05T10:00:00Z"}`,
  `{"id":"a\\nb","type":"t","customer":"c","timestamp":"2026-10-05T10:00:00Z"}`,
  `{"id":"a\tb","type":"t","customer":"c","timestamp":"2026-10-05T10:00:00Z"}`,
  `{"type":"t","customer":"c","timestamp":"2026-10-05T10:00:00Z"}`,
  `{"id":"e","type":"t","customer":"c"}`,
  `{"id":"e","type":"t","customer":"c","timestamp":1791194400000}`,
  `{"id":"e","type":"t","customer":"c","timestamp":"2026-09-31T10:00:00Z"}`,
  `{"id":"e","type":"t","customer":"c","timestamp":"2026-10-05T24:00:00Z"}`,
  `{"id":"e","type":"t","customer":"c","timestamp":"1999-12-31T10:00:00Z"}`,
  ...[
    "2027-02-29T12:00:00Z",
    "2026-09-31T12:00:00.000Z",
    "2026-10-05T24:00:00Z",
    "2026-10-05T10:60:00Z",
    "2026-10-05T10:00:60.000Z",
    "2100-01-01T00:00:00.000Z",
    "1999-12-31T23:59:59.999Z",
    "2026-10-05t10:00:00Z",
    "2026-10-05T10:00:00.12aZ",
    "2026-1x-05T10:00:00Z",
  ].map((ts) => `{"id":"e","type":"t","customer":"c","timestamp":"${ts}"}`),
  `{"\\u0069d":"e","type":"t","customer":"c","timestamp":"2026-10-05T10:00:00Z"}`,
  `{"id":"e","type":"t","customer":"c","timestamp":"2026-10-05T10:00:00Z"}\r`,
  "",
  "   ",
];

describe("NDJSON lines read in place", () => {
  for (const line of accepted) {
    it(`reads ${line.slice(0, 120)} as the full path does`, () => {
      const expected = full(line);
      expect(typeof expected).toBe("object");
      expect(fast(line)).toEqual(expected);
    });
  }

  for (const line of declined) {
    it(`leaves ${JSON.stringify(line).slice(0, 120)} to the full path`, () => {
      expect(fast(line)).toBeNull();
    });
  }

  it("agrees with the full path on random mutations of valid lines", () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    const alphabet = ' {}[]":,.-+eE0123456789\\tnrufalsxé_';
    let compared = 0;
    for (let n = 0; n < 20_000; n++) {
      const source = accepted[Math.floor(random() * accepted.length)] as string;
      const chars = [...source];
      for (let k = 1 + Math.floor(random() * 3); k > 0; k--) {
        const at = Math.floor(random() * chars.length);
        const c = alphabet[Math.floor(random() * alphabet.length)] as string;
        const op = random();
        if (op < 0.4) chars[at] = c;
        else if (op < 0.7) chars.splice(at, 1);
        else chars.splice(at, 0, c);
      }
      const line = chars.join("");
      const got = fast(line);
      if (got !== null) {
        compared++;
        expect(got, line).toEqual(full(line));
      }
    }
    // The mutations must leave many lines valid, or this compares nothing.
    expect(compared).toBeGreaterThan(1000);
  });

  it("a block mixes both paths in file order, with line numbers and problems", () => {
    const lines = [
      `{${base}}`,
      "",
      `{${base.replace('"e1"', '"e2"')},"properties":{"a":1.50}}`,
      "not json",
      `{${base.replace('"e1"', '"e3"')},"value":5}`,
      `{${base.replace('"e1"', '"e4"')},"properties":{"__proto__":1}}`,
    ];
    const text = `${lines.join("\r\n")}\n`;
    const w = ndjsonBlock({ text, firstLine: 10, bad: new Set([15]), bytesRead: 99 }, ZONE);
    expect(w.rows).toBe(5);
    expect(w.bytes).toBe(99);
    expect(w.problems).toEqual([
      { line: 13, reason: "invalid JSON" },
      { line: 15, reason: "invalid UTF-8" },
    ]);
    const ids: string[] = [];
    const props: (string | null)[] = [];
    for (let i = 0; i < w.ts.length; i++) {
      ids.push(w.text.slice(w.ranges[i * 8], w.ranges[i * 8 + 1]));
      const ps = w.ranges[i * 8 + 6] as number;
      props.push(ps < 0 ? null : w.text.slice(ps, w.ranges[i * 8 + 7]));
    }
    expect(ids).toEqual(["e1", "e2", "e3"]);
    expect(props).toEqual([null, '{"a":1.5}', null]);
    expect([...w.values].map((v) => (Number.isNaN(v) ? null : v))).toEqual([null, null, 5]);
  });
});
