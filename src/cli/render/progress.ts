/**
 * Progress of long work (imports, bills, simulations, alert checks), shown on
 * stderr as an ink bar when stderr is a terminal and not at all otherwise:
 * CI logs and piped runs stay exactly as they were. ink is imported only when
 * a bar is actually shown, so plain runs never load it.
 */
export interface ProgressState {
  label: string;
  /** What is counted: "rows", "events", "customers". */
  unit: string;
  /** Items done; the rate is this per second. */
  count: number;
  /** Work done out of `total`, in any measure (bytes of a file, days): percentage and ETA. */
  done?: number;
  total?: number;
  startedAt: number;
}

export interface ProgressFigures {
  fraction: number | null;
  percent: string | null;
  done: string;
  rate: string;
  eta: string | null;
}

const int = (n: number) => Math.round(n).toLocaleString("en-US");

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** Percentage, rate and ETA of a state at time `now` (ms). */
export function progressFigures(state: ProgressState, now: number): ProgressFigures {
  const elapsed = Math.max(0.001, (now - state.startedAt) / 1000);
  const done = state.done ?? state.count;
  const fraction =
    state.total !== undefined && state.total > 0 ? Math.min(1, Math.max(0, done / state.total)) : null;
  const eta =
    fraction === null || fraction === 0
      ? null
      : fraction >= 1
        ? "0s"
        : formatDuration((elapsed * (1 - fraction)) / fraction);
  return {
    fraction,
    percent: fraction === null ? null : `${Math.floor(fraction * 100)}%`,
    done: `${int(state.count)} ${state.unit}`,
    rate: `${int(state.count / elapsed)} ${state.unit}/s`,
    eta,
  };
}

export interface Progress {
  /** `count` items done so far; `done` of `total` work units when they differ from the count. */
  update(count: number, done?: number, total?: number): void;
  /** Remove the bar (the result is printed next). */
  finish(): Promise<void>;
}

export interface ProgressOptions {
  label: string;
  unit: string;
  total?: number;
}

const NONE: Progress = { update() {}, finish: async () => {} };

/** Redraws at most this often; the clock redraws even when no update arrives (ETA keeps moving). */
const FRAME_MS = 100;

export function startProgress(
  options: ProgressOptions,
  stream: NodeJS.WriteStream,
  enabled: boolean,
  color = true,
): Progress {
  if (!enabled) return NONE;
  const state: ProgressState = { ...options, count: 0, startedAt: Date.now() };
  let finished = false;
  let last = 0;
  let redraw: (() => void) | null = null;
  let stop: (() => Promise<void>) | null = null;
  const loading = import("./ink/live.js").then((m) => {
    if (finished) return;
    const live = m.liveProgress(state, stream, color);
    redraw = live.redraw;
    stop = live.stop;
  });
  const clock = setInterval(() => redraw?.(), 500);
  clock.unref();
  return {
    update(count, done, total) {
      state.count = count;
      if (done !== undefined) state.done = done;
      if (total !== undefined) state.total = total;
      const now = Date.now();
      if (now - last >= FRAME_MS) {
        last = now;
        redraw?.();
      }
    },
    async finish() {
      finished = true;
      clearInterval(clock);
      await loading.catch(() => {});
      await (stop as (() => Promise<void>) | null)?.();
    },
  };
}
