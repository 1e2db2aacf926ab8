import { render } from "ink";
import type { ProgressState } from "../progress.js";
import { ProgressBar } from "./progress-bar.js";

/** A live progress bar on `stream` (stderr); never patches console, never reads stdin. */
export function liveProgress(
  state: ProgressState,
  stream: NodeJS.WriteStream,
  color: boolean,
): { redraw: () => void; stop: () => Promise<void> } {
  const view = () => <ProgressBar state={{ ...state }} now={Date.now()} color={color} />;
  const instance = render(view(), {
    stdout: stream,
    stderr: stream,
    patchConsole: false,
    exitOnCtrlC: false,
  });
  return {
    redraw: () => instance.rerender(view()),
    stop: async () => {
      instance.clear();
      instance.unmount();
      await instance.waitUntilExit();
    },
  };
}
