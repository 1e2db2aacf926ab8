import { Box, Text } from "ink";
import { type ProgressState, progressFigures } from "../progress.js";

const WIDTH = 30;

/** `importing  [██████░░░░] 42%  12,345 rows/s  ETA 8s` */
export function ProgressBar(props: { state: ProgressState; now: number }): React.JSX.Element {
  const f = progressFigures(props.state, props.now);
  const filled = f.fraction === null ? 0 : Math.round(f.fraction * WIDTH);
  return (
    <Box gap={1}>
      <Text bold>{props.state.label}</Text>
      {f.fraction === null ? null : (
        <Text>
          <Text color="green">{"█".repeat(filled)}</Text>
          <Text dimColor>{"░".repeat(WIDTH - filled)}</Text>
        </Text>
      )}
      {f.percent === null ? null : <Text>{f.percent}</Text>}
      <Text>{f.done}</Text>
      <Text color="cyan">{f.rate}</Text>
      {f.eta === null ? null : <Text dimColor>ETA {f.eta}</Text>}
    </Box>
  );
}
