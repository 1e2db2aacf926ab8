import { stripVTControlCharacters } from "node:util";
import { render } from "ink-testing-library";
import { describe, expect, it } from "vitest";
import { ProgressBar } from "../../../src/cli/render/ink/progress-bar.js";
import { Table, ViewScreen } from "../../../src/cli/render/ink/table.js";
import { formatDuration, progressFigures } from "../../../src/cli/render/progress.js";
import { renderPlain, type View } from "../../../src/cli/render/view.js";

/**
 * The ink views behind the render facade, drawn with ink-testing-library (no
 * console patching, no TTY needed), and the progress arithmetic they show.
 */
const strip = stripVTControlCharacters;

const invoices: View = [
  { kind: "text", text: "Invoice acme-ai-2026-10-0001  globex  plan pro" },
  {
    kind: "table",
    indent: 2,
    columns: [{ header: "KIND" }, { header: "AMOUNT", align: "right" }],
    rows: [
      ["subscription", "49.00"],
      ["usage", "1234.50"],
    ],
  },
  {
    kind: "table",
    columns: [{ header: "CUSTOMER" }, { header: "TOTAL", align: "right" }],
    rows: [
      ["globex", "1283.50"],
      ["initech", "7.25"],
      ["TOTAL", "1290.75"],
    ],
    totalRow: true,
  },
];

describe("ink tables", () => {
  it("a table has a border, its header and every row, numbers right-aligned", () => {
    const { lastFrame, unmount } = render(
      <Table
        columns={[{ header: "CUSTOMER" }, { header: "TOTAL", align: "right" }]}
        rows={[
          ["globex", "1283.50"],
          ["initech", "7.25"],
        ]}
      />,
    );
    const lines = strip(lastFrame() ?? "").split("\n");
    unmount();
    expect(lines[0]).toMatch(/^╭─+╮$/);
    expect(lines.at(-1)).toMatch(/^╰─+╯$/);
    expect(lines[1]).toContain("CUSTOMER    TOTAL");
    const globex = lines.find((l) => l.includes("globex")) as string;
    const initech = lines.find((l) => l.includes("initech")) as string;
    // Right-aligned: the amounts end in the same column.
    expect(globex.indexOf("1283.50") + "1283.50".length).toBe(initech.indexOf("7.25") + "7.25".length);
  });

  it("a total row is set apart from the rows above it", () => {
    const { lastFrame, unmount } = render(<ViewScreen view={invoices} />);
    const lines = strip(lastFrame() ?? "").split("\n");
    unmount();
    const total = lines.findIndex((l) => l.includes("1290.75"));
    expect(lines[total - 1]).toMatch(/─{10,}/);
    expect(lines.findIndex((l) => l.includes("initech"))).toBeLessThan(total - 1);
  });

  it("the plain rendering of the same view has no borders and no escape codes", () => {
    const plain = renderPlain(invoices);
    expect(plain).not.toMatch(/[╭│─]/);
    expect(stripVTControlCharacters(plain)).toBe(plain);
    expect(plain.split("\n")).toEqual([
      "Invoice acme-ai-2026-10-0001  globex  plan pro",
      "  KIND           AMOUNT",
      "  subscription    49.00",
      "  usage         1234.50",
      "CUSTOMER    TOTAL",
      "globex    1283.50",
      "initech      7.25",
      "TOTAL     1290.75",
    ]);
  });
});

describe("progress", () => {
  const startedAt = 1_000_000;

  it("percentage, rate and ETA from work done out of a known total", () => {
    const f = progressFigures(
      { label: "importing", unit: "rows", count: 50_000, done: 250, total: 1000, startedAt },
      startedAt + 10_000,
    );
    expect(f.percent).toBe("25%");
    expect(f.rate).toBe("5,000 rows/s");
    // A quarter took 10 s: three quarters take 30 s more.
    expect(f.eta).toBe("30s");
  });

  it("without a total there is a rate but no percentage or ETA", () => {
    const f = progressFigures({ label: "replaying", unit: "events", count: 42, startedAt }, startedAt + 2000);
    expect(f).toMatchObject({ percent: null, eta: null, fraction: null, rate: "21 events/s" });
  });

  it("durations read as seconds, minutes or hours", () => {
    expect([formatDuration(7), formatDuration(125), formatDuration(7380)]).toEqual(["7s", "2m05s", "2h03m"]);
  });

  it("the bar shows the label, a filled share, percentage, rate and ETA", () => {
    const state = { label: "importing", unit: "rows", count: 3000, done: 50, total: 100, startedAt };
    const { lastFrame, unmount } = render(<ProgressBar state={state} now={startedAt + 3000} />);
    const frame = strip(lastFrame() ?? "");
    unmount();
    expect(frame).toContain("importing");
    expect(frame).toContain(`${"█".repeat(15)}${"░".repeat(15)}`);
    expect(frame).toMatch(/50%.*3,000 rows.*1,000 rows\/s.*ETA 3s/);
  });
});
