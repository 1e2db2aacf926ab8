import { Box, Text } from "ink";
import type { Block, Column, Tone, View } from "../view.js";

/**
 * A view on a terminal: text lines and bordered tables with a bold header and
 * total row. Reusable by any command that returns a `View` (bill, usage query,
 * customers list, history, test, and later balances).
 */
const TONE: Record<Tone, { color?: string; dimColor?: boolean; bold?: boolean }> = {
  ok: { color: "green" },
  fail: { color: "red", bold: true },
  warn: { color: "yellow" },
  dim: { dimColor: true },
};

function cell(value: string, width: number, column: Column | undefined): string {
  return column?.align === "right" ? value.padStart(width) : value.padEnd(width);
}

export function Table(props: {
  columns: Column[];
  rows: string[][];
  totalRow?: boolean;
  indent?: number;
}): React.JSX.Element {
  const { columns, rows, totalRow } = props;
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((v, i) => cell(v, widths[i] ?? 0, columns[i])).join("  ");
  const body = totalRow ? rows.slice(0, -1) : rows;
  const total = totalRow ? rows[rows.length - 1] : undefined;
  return (
    <Box
      flexDirection="column"
      alignSelf="flex-start"
      borderStyle="round"
      borderColor="gray"
      paddingX={1}
      marginLeft={props.indent ?? 0}
    >
      <Text bold color="cyan" wrap="truncate-end">
        {line(columns.map((c) => c.header))}
      </Text>
      {body.map((r, i) => (
        // Rows have no identity of their own beyond their position in a static table.
        // biome-ignore lint/suspicious/noArrayIndexKey: static rows
        <Text key={i} wrap="truncate-end">
          {line(r)}
        </Text>
      ))}
      {total ? (
        <Box borderStyle="single" borderTop borderBottom={false} borderLeft={false} borderRight={false}>
          <Text bold wrap="truncate-end">
            {line(total)}
          </Text>
        </Box>
      ) : null}
    </Box>
  );
}

function BlockView(props: { block: Block }): React.JSX.Element {
  const b = props.block;
  if (b.kind === "table")
    return <Table columns={b.columns} rows={b.rows} totalRow={b.totalRow} indent={b.indent} />;
  return (
    <Box marginLeft={b.indent ?? 0}>
      <Text {...(b.tone ? TONE[b.tone] : {})}>{b.text === "" ? " " : b.text}</Text>
    </Box>
  );
}

export function ViewScreen(props: { view: View }): React.JSX.Element {
  return (
    <Box flexDirection="column">
      {props.view.map((block, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: blocks are a static list
        <BlockView key={i} block={block} />
      ))}
    </Box>
  );
}
