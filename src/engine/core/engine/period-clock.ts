import type { PeriodSpec } from "../model.js";
import { intervalWindow } from "../periods/interval.js";
import { isInterval, isSliding } from "../periods/spec.js";
import { LIFETIME } from "../periods.js";
import type { Counter } from "./counter.js";
import { SlidingWindow } from "./sliding-window.js";

/**
 * The state a period needs beyond the calendar: where a `first_use` interval
 * is anchored, or a sliding window's buckets. Calendar periods (and
 * `subscription` intervals, which the plan history anchors) have none, and
 * their counters carry no clock, so the decision path pays nothing for it.
 */
export interface PeriodClock {
  /** Bring counter `c` to `now` (the lazy reset of R6, or the window sliding on). */
  enter(c: Counter, now: number): void;
  /** `applied` units were just counted on `c` at `now`. */
  counted(c: Counter, now: number, applied: number): void;
  /** This clock keeps time for `period` (a reload may have changed it). */
  governs(period: PeriodSpec): boolean;
  /** Text to persist with the counter, read back by `load`. */
  serialize(): string;
  load(text: string): void;
  /** Forget everything (the store's state is loaded next). */
  reset(): void;
}

/** The sliding window a counter keeps (null when its period does not slide). */
export function slidingWindowOf(c: Counter): SlidingWindow | null {
  return c.clock instanceof SlidingClock ? c.clock.window : null;
}

/** The clock a period needs, or null for calendar and `subscription` periods. */
export function periodClock(period: PeriodSpec): PeriodClock | null {
  if (isSliding(period)) return new SlidingClock(period.slidingMs);
  if (isInterval(period) && period.anchor === "first_use") return new FirstUseClock(period.everyMs);
  return null;
}

/**
 * Intervals from the counter's first counted use. Until then the period
 * floats (it would start now, so `resetsAt` says when a use now would
 * reset); the first use fixes the anchor for good.
 */
class FirstUseClock implements PeriodClock {
  anchor = Number.NaN;

  constructor(readonly everyMs: number) {}

  enter(c: Counter, now: number): void {
    c.enter(intervalWindow(Number.isNaN(this.anchor) ? now : this.anchor, this.everyMs, now));
  }

  counted(c: Counter, now: number, applied: number): void {
    if (!Number.isNaN(this.anchor) || applied <= 0) return;
    this.anchor = now;
    c.move(intervalWindow(now, this.everyMs, now));
  }

  governs(period: PeriodSpec): boolean {
    return isInterval(period) && period.anchor === "first_use" && period.everyMs === this.everyMs;
  }

  reset(): void {
    this.anchor = Number.NaN;
  }

  serialize(): string {
    return Number.isNaN(this.anchor) ? "" : `first_use;${this.anchor}`;
  }

  load(text: string): void {
    const [kind, at] = text.split(";");
    if (kind === "first_use" && Number.isFinite(Number(at))) this.anchor = Number(at);
  }
}

/**
 * A sliding window: the counter's `used` is the window's total and its
 * period ends when the oldest counted bucket leaves (`resetsAt`: when units
 * free up). The period start never moves, so nothing resets at once.
 */
class SlidingClock implements PeriodClock {
  window: SlidingWindow;

  constructor(windowMs: number) {
    this.window = new SlidingWindow(windowMs);
  }

  enter(c: Counter, now: number): void {
    this.window.advance(now);
    this.sync(c);
  }

  counted(c: Counter, now: number, applied: number): void {
    this.window.add(now, applied);
    this.sync(c);
  }

  private sync(c: Counter): void {
    const w = this.window;
    c.used = w.total;
    // Notices fire again once the window has emptied.
    if (w.total === 0) c.rearm();
    c.move({ start: LIFETIME.start, end: Math.min(w.nextRelease(), LIFETIME.end) });
  }

  governs(period: PeriodSpec): boolean {
    return isSliding(period) && period.slidingMs === this.window.windowMs;
  }

  reset(): void {
    this.window = new SlidingWindow(this.window.windowMs);
  }

  serialize(): string {
    return `sliding;${this.window.serialize()}`;
  }

  load(text: string): void {
    if (text.startsWith("sliding;")) this.window.restore(text.slice("sliding;".length));
  }
}
