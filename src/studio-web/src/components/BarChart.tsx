/**
 * Grouped bars, before and after, with axis titles and a value on every bar.
 * Drawn as SVG in a viewBox so it scales to the screen; the numbers are also
 * in the table next to it for screen readers.
 */
export interface BarGroup {
  label: string;
  before: number;
  after: number;
}

const W = 640;
const H = 300;
const PAD = { left: 64, right: 12, top: 28, bottom: 56 };

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

export function BarChart({
  groups,
  title,
  yTitle,
  xTitle,
  legend,
  format,
}: {
  groups: BarGroup[];
  title: string;
  yTitle: string;
  xTitle: string;
  legend: [string, string];
  format: (n: number) => string;
}) {
  const max = niceMax(Math.max(...groups.flatMap((g) => [g.before, g.after])));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, groups.length);
  const bar = Math.min(56, slot / 3);
  const y = (v: number) => PAD.top + plotH - (Math.max(0, v) / max) * plotH;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * max);
  return (
    <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="chart-title" class="chart">
      <title id="chart-title">{title}</title>
      {ticks.map((t) => (
        <g key={t}>
          <line x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} class="grid" />
          <text x={PAD.left - 6} y={y(t) + 4} text-anchor="end" class="tick">
            {format(t)}
          </text>
        </g>
      ))}
      {groups.map((g, i) => {
        const x0 = PAD.left + slot * i + (slot - bar * 2 - 4) / 2;
        return (
          <g key={g.label}>
            {[g.before, g.after].map((v, j) => (
              <g key={legend[j]}>
                <rect
                  x={x0 + j * (bar + 4)}
                  y={y(v)}
                  width={bar}
                  height={PAD.top + plotH - y(v)}
                  class={`bar s${j}`}
                />
                <text x={x0 + j * (bar + 4) + bar / 2} y={y(v) - 4} text-anchor="middle" class="value">
                  {format(v)}
                </text>
              </g>
            ))}
            <text
              x={PAD.left + slot * i + slot / 2}
              y={PAD.top + plotH + 16}
              text-anchor="middle"
              class="tick"
            >
              {g.label}
            </text>
          </g>
        );
      })}
      <line x1={PAD.left} x2={W - PAD.right} y1={PAD.top + plotH} y2={PAD.top + plotH} class="axis" />
      <text x={PAD.left + plotW / 2} y={H - 8} text-anchor="middle" class="axis-title">
        {xTitle}
      </text>
      <text
        transform={`translate(14 ${PAD.top + plotH / 2}) rotate(-90)`}
        text-anchor="middle"
        class="axis-title"
      >
        {yTitle}
      </text>
      {legend.map((name, j) => (
        <g key={name} transform={`translate(${PAD.left + j * 200} 10)`}>
          <rect width="12" height="12" y="-2" class={`bar s${j}`} />
          <text x="18" y="9" class="tick">
            {name}
          </text>
        </g>
      ))}
    </svg>
  );
}
