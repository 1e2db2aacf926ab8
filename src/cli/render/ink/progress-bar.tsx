import { Box, Text } from "ink";
import { type ProgressState, progressFigures } from "../progress.js";

const WIDTH = 30;

/** `importing  [██████░░░░] 42%  12,345 rows/s  ETA 8s` */
export function ProgressBar(props: {
  state: ProgressState;
  now: number;
  color?: boolean;
}): React.JSX.Element {
  const f = progressFigures(props.state, props.now);
  const paint = props.color !== false;
  const filled = f.fraction === null ? 0 : Math.round(f.fraction * WIDTH);
  return (
    <Box gap={1}>
      <Text bold={paint}>{props.state.label}</Text>
      {f.fraction === null ? null : (
        <Text>
          <Text color={paint ? "green" : undefined}>{"█".repeat(filled)}</Text>
          <Text dimColor={paint}>{"░".repeat(WIDTH - filled)}</Text>
        </Text>
      )}
      {f.percent === null ? null : <Text>{f.percent}</Text>}
      <Text>{f.done}</Text>
      <Text color={paint ? "cyan" : undefined}>{f.rate}</Text>
      {f.eta === null ? null : <Text dimColor={paint}>ETA {f.eta}</Text>}
    </Box>
  );
}
