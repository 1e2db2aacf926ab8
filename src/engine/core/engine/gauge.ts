import { heldArea, type UnitTime } from "../usage/time-weighted.js";

/**
 * The reading a `time_weighted` counter holds (GB stored, seats held). The
 * counter's `used` is the area up to the last reading; the area since then
 * (`pending`) is added when the next reading arrives, and shown live by
 * reads. Floats: the engine shows usage, invoices integrate exactly.
 */
export class Gauge {
  value = Number.NaN;
  at = Number.NaN;

  constructor(readonly unit: UnitTime) {}

  /** Take a reading `v` at `ts`; returns the area the previous reading held in the period up to `ts`. */
  read(ts: number, v: number, periodStart: number): number {
    if (!Number.isNaN(this.at) && ts < this.at) return 0;
    const area = this.pending(ts, periodStart);
    this.value = v;
    this.at = ts;
    return area;
  }

  /** Area the current reading has held since it was taken (or since the period started) up to `now`. */
  pending(now: number, periodStart: number): number {
    if (Number.isNaN(this.at)) return 0;
    return heldArea(this.value, Math.max(this.at, periodStart), now, this.unit);
  }

  reset(): void {
    this.value = Number.NaN;
    this.at = Number.NaN;
  }

  serialize(): string {
    return Number.isNaN(this.at) ? "" : `gauge;${this.value};${this.at}`;
  }

  load(text: string): void {
    const [kind, value, at] = text.split(";");
    if (kind !== "gauge" || !Number.isFinite(Number(value)) || !Number.isFinite(Number(at))) return;
    this.value = Number(value);
    this.at = Number(at);
  }
}
