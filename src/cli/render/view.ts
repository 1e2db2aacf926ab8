import type { ChalkInstance } from "chalk";

/**
 * What a command shows people, as data: text lines and tables. The same view
 * renders as plain, stable text (off a TTY, and what tests compare) and as
 * ink components on a terminal (`render/ink/`), so a table is described once.
 */
export interface Column {
  header: string;
  /** Numbers read best right-aligned. */
  align?: "left" | "right";
}

export type Tone = "ok" | "fail" | "warn" | "dim";

export type Block =
  | { kind: "text"; text: string; indent?: number; tone?: Tone }
  | {
      kind: "table";
      columns: Column[];
      rows: string[][];
      indent?: number;
      /** The last row sums up the others (shown bold on a terminal). */
      totalRow?: boolean;
      /** Bold header in plain text too (when colour is on). */
      boldHeader?: boolean;
    };

export type View = Block[];

export const text = (t: string, indent?: number, tone?: Tone): Block => ({
  kind: "text",
  text: t,
  ...(indent ? { indent } : {}),
  ...(tone ? { tone } : {}),
});

/** Plain aligned columns, two spaces apart, no trailing blanks. */
export function plainTable(header: string[] | null, rows: string[][], rightAlign: number[] = []): string[] {
  const all = header ? [header, ...rows] : rows;
  const widths = all[0]?.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length))) ?? [];
  return all.map((r) =>
    r
      .map((c, i) => (rightAlign.includes(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd(),
  );
}

/** The view as plain text: the stable output of a non-TTY run. */
export function renderPlain(view: View, color?: ChalkInstance): string {
  const out: string[] = [];
  for (const block of view) {
    const pad = " ".repeat(block.indent ?? 0);
    if (block.kind === "text") {
      out.push(block.text === "" ? "" : `${pad}${block.text}`);
      continue;
    }
    const right = block.columns.flatMap((c, i) => (c.align === "right" ? [i] : []));
    const lines = plainTable(
      block.columns.map((c) => c.header),
      block.rows,
      right,
    );
    if (block.boldHeader && color && lines.length > 0) lines[0] = color.bold(lines[0] as string);
    out.push(...lines.map((l) => `${pad}${l}`));
  }
  return out.join("\n");
}
