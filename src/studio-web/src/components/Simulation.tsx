import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import type { SimulationResponse } from "../types.js";
import { BarChart } from "./BarChart.js";

const pct = (v: number | null) => (v === null ? "n/a" : `${v > 0 ? "+" : ""}${v.toFixed(2)}%`);
const signed = (v: string) => (v.startsWith("-") || Number(v) === 0 ? v : `+${v}`);

/** The change replayed on the last closed month's recorded usage: revenue, margin and denials. */
export function Simulation({ version }: { version: string }) {
  const [sim, setSim] = useState<SimulationResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setSim(null);
    api.get<SimulationResponse>("/api/simulate").then(setSim, (err: Error) => setError(err.message));
  }, [version]);

  if (error) return <p class="error">{error}</p>;
  if (!sim) return <p aria-busy="true">Replaying last month's usage under your change…</p>;
  if (!sim.available) return <p class="muted">No simulation: {sim.reason}.</p>;
  const t = sim.totals;
  const money = (n: number) =>
    `${sim.currency === "USD" ? "$" : ""}${n.toLocaleString("en-US", { maximumFractionDigits: 0 })}`;
  return (
    <div data-testid="simulation">
      <p>
        On {sim.period.label} ({sim.events.toLocaleString("en-US")} events), revenue goes from{" "}
        <strong>{t.base_revenue}</strong> to <strong>{t.head_revenue}</strong> {sim.currency} (
        <strong>
          {signed(t.revenue_change)}, {pct(t.revenue_change_pct)}
        </strong>
        ); margin {t.base_margin} → {t.head_margin}; denied calls {t.base_denied} → {t.head_denied};{" "}
        {t.customers_affected} customer(s) affected.
      </p>
      <BarChart
        title={`Revenue per plan in ${sim.period.label}, before and after the change`}
        xTitle="Plan"
        yTitle={`Revenue (${sim.currency})`}
        legend={[`Before (${sim.base.ref})`, "After (your change)"]}
        format={money}
        groups={sim.plans.map((p) => ({
          label: p.name,
          before: Number(p.base_revenue),
          after: Number(p.head_revenue),
        }))}
      />
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard */}
      <section class="scroll" aria-label="Revenue per plan table" tabIndex={0}>
        <table class="matrix">
          <thead>
            <tr>
              <th scope="col">Plan</th>
              <th scope="col">Revenue before</th>
              <th scope="col">Revenue after</th>
              <th scope="col">Change</th>
              <th scope="col">Denied before → after</th>
            </tr>
          </thead>
          <tbody>
            {sim.plans.map((p) => (
              <tr key={p.plan}>
                <th scope="row">{p.name}</th>
                <td>{p.base_revenue}</td>
                <td>{p.head_revenue}</td>
                <td>
                  {signed(p.revenue_change)} ({pct(p.revenue_change_pct)})
                </td>
                <td>
                  {p.base_denied} → {p.head_denied}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {sim.movers.up.length + sim.movers.down.length > 0 && (
        <p>
          Top movers:{" "}
          {[...sim.movers.up, ...sim.movers.down]
            .slice(0, 5)
            .map((m) => `${m.customer} ${signed(m.revenue_change)}`)
            .join(", ")}
          .
        </p>
      )}
    </div>
  );
}
