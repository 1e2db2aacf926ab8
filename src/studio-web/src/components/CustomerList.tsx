import type { Overview } from "../types.js";

/** Contracted customers (those in the policy) with their plan and negotiated terms. */
export function CustomerList({ customers }: { customers: Overview["customers"] }) {
  return (
    <section aria-labelledby="customers-heading">
      <h2 id="customers-heading">Customers with contracts</h2>
      <ul class="cards">
        {customers.map((c) => (
          <li key={c.id}>
            <h3>{c.id}</h3>
            <p>
              Plan <strong>{c.plan}</strong>
              {c.since && ` since ${c.since}`}
              {c.parent && `, part of ${c.parent}`}
            </p>
            {c.terms.length > 0 ? (
              <ul>
                {c.terms.map((t) => (
                  <li key={t}>{t}</li>
                ))}
              </ul>
            ) : (
              <p class="muted">The plan's terms, nothing negotiated.</p>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
