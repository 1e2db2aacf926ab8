import type { Overview } from "../types.js";

export function MeterList({ meters }: { meters: Overview["meters"] }) {
  return (
    <section aria-labelledby="meters-heading">
      <h2 id="meters-heading">Meters</h2>
      <p class="muted">What is counted: each meter turns usage events into a number per period.</p>
      <ul class="cards">
        {meters.map((m) => (
          <li key={m.id}>
            <h3>{m.id}</h3>
            <p>{m.description}</p>
            <p class="muted">
              {m.aggregation} of {m.events.join(", ")} events{m.unit ? `, in ${m.unit}s` : ""}
            </p>
          </li>
        ))}
      </ul>
    </section>
  );
}
