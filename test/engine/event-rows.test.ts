/**
 * The SQLite store writes the engine's buffered events through
 * `EventBuffer.fill`, which skips building a StoredEvent: its row must be
 * the one `event(i)` describes, for every kind of event source.
 */
import { describe, expect, it } from "vitest";
import { EventBuffer, type EventSource } from "../../src/engine/runtime/write-behind.js";

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
});
