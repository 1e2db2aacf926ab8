import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import type { CustomersResponse, CustomerUsage, InvoiceResponse, Overview } from "../types.js";

export type ContractPart = "overrides" | "discounts" | "credits";

const today = () => new Date().toISOString().slice(0, 10);

function InvoicePreview({ customer, at }: { customer: string; at: string }) {
  const [answer, setAnswer] = useState<InvoiceResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api
      .get<InvoiceResponse>(`/api/customers/${encodeURIComponent(customer)}/invoice?at=${at}`)
      .then(setAnswer, (err: Error) => setError(err.message));
  }, [customer, at]);
  if (error) return <p class="error">{error}</p>;
  if (!answer) return <p aria-busy="true">Rating the period so far…</p>;
  if (!answer.available) return <p class="muted">{answer.reason}</p>;
  const inv = answer.invoice;
  if (!inv) return <p class="muted">Nothing to invoice for {answer.period} so far.</p>;
  return (
    <div data-testid={`invoice-${customer}`}>
      <p>
        Invoice preview for {answer.period} so far: <strong>{inv.total}</strong> (subtotal {inv.subtotal},
        discount {inv.discount}, credits {inv.credits_applied}).
      </p>
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard */}
      <section class="scroll" aria-label={`Invoice lines of ${customer}`} tabIndex={0}>
        <table class="matrix narrow">
          <thead>
            <tr>
              <th scope="col">Line</th>
              <th scope="col">Quantity</th>
              <th scope="col">Amount</th>
            </tr>
          </thead>
          <tbody>
            {inv.lines.map((l, i) => (
              <tr key={`${i}-${l.description}`}>
                <td>{l.description}</td>
                <td>{l.quantity ?? ""}</td>
                <td>{l.amount}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}

function CustomerCard({
  c,
  terms,
  at,
  onEdit,
}: {
  c: CustomerUsage;
  terms: string[];
  at: string;
  onEdit: (customer: string, part: ContractPart) => void;
}) {
  const [invoice, setInvoice] = useState(false);
  return (
    <li data-testid={`customer-${c.id}`}>
      <h3>{c.id}</h3>
      <p>
        Plan <strong>{c.plan ?? "none"}</strong>
        {c.contract ? " (contract in the policy)" : " (self-serve)"}
      </p>
      {terms.length > 0 && (
        <ul>
          {terms.map((t) => (
            <li key={t}>{t}</li>
          ))}
        </ul>
      )}
      {c.usage.length > 0 && (
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard
        <section class="scroll" aria-label={`Usage of ${c.id}`} tabIndex={0}>
          <table class="matrix narrow usage">
            <thead>
              <tr>
                <th scope="col">Entitlement</th>
                <th scope="col">Used</th>
                <th scope="col">Limit</th>
              </tr>
            </thead>
            <tbody>
              {c.usage.map((u) => (
                <tr key={u.entitlement} class={u.percent !== null && u.percent >= 100 ? "over" : undefined}>
                  <th scope="row">{u.entitlement}</th>
                  <td>{u.used}</td>
                  <td>
                    {u.limit === null ? "unlimited" : `${u.limit} per ${u.period}`}
                    {u.percent !== null && (
                      <>
                        {" "}
                        ({u.percent}%)
                        <span class="bar" aria-hidden="true">
                          <span style={{ width: `${Math.min(100, u.percent)}%` }} />
                        </span>
                      </>
                    )}
                    {u.owner !== c.id && <div class="muted">shared with {u.owner}</div>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      {c.wallet ? (
        <p data-testid={`wallet-${c.id}`}>
          Wallet: <strong>{c.wallet.balance}</strong> {c.wallet.unit} (available {c.wallet.available}, reserve{" "}
          {c.wallet.minimum}, held {c.wallet.reserved})
        </p>
      ) : (
        <p class="muted">No wallet.</p>
      )}
      <div class="actions">
        <button type="button" class="secondary" aria-expanded={invoice} onClick={() => setInvoice(!invoice)}>
          {invoice ? "Hide" : "Preview"} invoice<span class="visually-hidden"> of {c.id}</span>
        </button>
        {c.contract &&
          (["overrides", "discounts", "credits"] as const).map((part) => (
            <button key={part} type="button" class="secondary" onClick={() => onEdit(c.id, part)}>
              Edit {part}
              <span class="visually-hidden"> of {c.id}</span>
            </button>
          ))}
      </div>
      {invoice && <InvoicePreview customer={c.id} at={at} />}
    </li>
  );
}

/** Every customer's usage against their limits as of a day, their wallet, and the period's invoice so far. */
export function CustomersPage({
  overview,
  version,
  onEdit,
}: {
  overview: Overview;
  version: number;
  onEdit: (customer: string, part: ContractPart) => void;
}) {
  const [at, setAt] = useState(today());
  const [find, setFind] = useState("");
  const [data, setData] = useState<CustomersResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [refresh, setRefresh] = useState(0);
  useEffect(() => {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(at)) return;
    setData(null);
    api.get<CustomersResponse>(`/api/customers?at=${at}`).then(
      (d) => {
        setData(d);
        setError(null);
      },
      (err: Error) => setError(err.message),
    );
  }, [at, version, refresh]);
  const terms = new Map(overview.customers.map((c) => [c.id, c.terms]));
  const shown =
    data?.available === true ? data.customers.filter((c) => c.id.includes(find.trim().toLowerCase())) : [];
  return (
    <section aria-labelledby="customers-heading">
      <h2 id="customers-heading">Customers</h2>
      <div class="filters">
        <div class="field">
          <label for="usage-at">Usage as of</label>
          <input id="usage-at" type="date" value={at} onInput={(e) => setAt(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="find-customer">Find a customer</label>
          <input
            id="find-customer"
            type="search"
            value={find}
            autoComplete="off"
            onInput={(e) => setFind(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <button type="button" class="secondary refresh" onClick={() => setRefresh(refresh + 1)}>
            Refresh usage
          </button>
        </div>
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {!data && !error && <p aria-busy="true">Reading usage…</p>}
      {data && !data.available && <p class="muted">No live usage: {data.reason}.</p>}
      {data?.available && (
        <>
          <p class="muted" role="status">
            {shown.length} of {data.customers.length} customers; usage in each entitlement's period containing{" "}
            {data.at}.
          </p>
          <ul class="cards customers">
            {shown.map((c) => (
              <CustomerCard key={c.id} c={c} terms={terms.get(c.id) ?? []} at={data.at} onEdit={onEdit} />
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
