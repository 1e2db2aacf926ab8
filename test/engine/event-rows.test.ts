/**
 * The SQLite store writes the engine's buffered events through
 * `EventBuffer.fill`, which skips building a StoredEvent: its row must be
 * the one `event(i)` describes, for every kind of event source.
 */
import { describe, expect, it } from "vitest";
import { EventBuffer, type EventSource, generatedId } from "../../src/engine/runtime/write-behind.js";

const sources: EventSource[] = [
  { eventType: "api.request", customer: "c1", valueProp: null, filterProps: null },
  { eventType: "llm.tokens", customer: "c2", valueProp: "n", filterProps: null },
  { eventType: "llm.tokens", customer: "c3", valueProp: null, filterProps: { model: "small" } },
  { eventType: "gpu.seconds", customer: "c4", valueProp: "s", filterProps: { region: "eu" } },
];

describe("EventBuffer.fill", () => {
  it("writes the row event(i) describes: ids, values, properties and defaults", () => {
    const buffer = new EventBuffer("abc-");
    let n = 0;
    for (const source of sources)
      for (const value of [1, 2.5, Number.NaN])
        for (const props of [undefined, { region: "us", k: 3 }]) {
          const id = n % 3 === 0 ? `explicit-${n}` : n;
          buffer.push(id, source, 1_000 + n, value, props);
          n++;
        }
    buffer.pop(); // a popped event's properties must not leak into the next one pushed there
    buffer.push(999, sources[0] as EventSource, 5_000, 1, undefined);
    const snapshot = buffer.snapshot();
    for (const b of [buffer, snapshot])
      for (let i = 0; i < b.length; i++) {
        const out: unknown[] = new Array(8).fill("unset");
        b.fill(i, out, 2);
        const e = b.event(i);
        expect(out).toEqual([
          "unset",
          "unset",
          e.id,
          e.type,
          e.customer,
          e.ts,
          e.value,
          e.properties === null ? null : JSON.stringify(e.properties),
        ]);
      }
    expect(snapshot.length).toBe(n);
  });

  it("writes generated ids as the prefix and the sequence number in base 36, across digit boundaries", () => {
    const buffer = new EventBuffer("0123456789ab-");
    const seqs: number[] = [];
    for (const edge of [0, 36, 1296, 46_656, 1_679_616, 2 ** 31, 2 ** 40, Number.MAX_SAFE_INTEGER - 2])
      for (let d = -2; d <= 2; d++) if (edge + d >= 0) seqs.push(edge + d);
    // Out of order and repeated too: the ids of a reloaded engine's sealed batch come first.
    seqs.push(1_300, 5, 1_300, 46_655, 1_296);
    for (const seq of seqs) buffer.push(seq, sources[0] as EventSource, 1, 1, undefined);
    const out: unknown[] = new Array(6);
    seqs.forEach((seq, i) => {
      buffer.fill(i, out, 0);
      expect(out[0]).toBe(generatedId("0123456789ab-", seq));
      expect(out[0]).toBe(`0123456789ab-${seq.toString(36)}`);
    });
  });
});
