import { useCallback, useEffect, useState } from "preact/hooks";
import { api } from "./api.js";
import { CustomerList } from "./components/CustomerList.js";
import { DiagnosticList } from "./components/DiagnosticList.js";
import { EntitlementEditor } from "./components/EntitlementEditor.js";
import { MeterList } from "./components/MeterList.js";
import { PlanMatrix } from "./components/PlanMatrix.js";
import { Review } from "./components/Review.js";
import type { PolicyResponse } from "./types.js";

const TABS = [
  { id: "plans", label: "Plans" },
  { id: "meters", label: "Meters" },
  { id: "customers", label: "Customers" },
  { id: "review", label: "Review and save" },
] as const;
type Tab = (typeof TABS)[number]["id"];

export function App() {
  const [tab, setTab] = useState<Tab>("plans");
  const [data, setData] = useState<PolicyResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<{ plan: string; entitlement: string } | null>(null);

  const load = useCallback(async () => {
    try {
      setData(await api.get<PolicyResponse>("/api/policy"));
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  const overview = data?.overview ?? null;
  const changed = data?.git?.changedFiles.length ?? 0;
  return (
    <>
      <header class="top">
        <h1>limitr studio</h1>
        {overview && (
          <p class="muted">
            {overview.name} · prices in {overview.currency}
            {data?.git && (
              <>
                {" "}
                · branch <code>{data.git.branch}</code>
                {changed > 0 && <span class="badge">{changed} unsaved file(s)</span>}
              </>
            )}
          </p>
        )}
      </header>
      <nav aria-label="Sections" class="tabs">
        {TABS.map((t) => (
          <button
            key={t.id}
            type="button"
            aria-current={tab === t.id ? "page" : undefined}
            onClick={() => setTab(t.id)}
          >
            {t.label}
          </button>
        ))}
      </nav>
      <main>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        {data && !overview && (
          <section aria-labelledby="broken">
            <h2 id="broken">The policy has errors</h2>
            <DiagnosticList diagnostics={data.diagnostics} />
          </section>
        )}
        {overview && tab === "plans" && (
          <>
            <PlanMatrix
              overview={overview}
              onEdit={(plan, entitlement) => setEditing({ plan, entitlement })}
            />
            {editing && data && (
              <EntitlementEditor
                key={`${editing.plan}/${editing.entitlement}`}
                plan={editing.plan}
                entitlement={editing.entitlement}
                fields={data.fields}
                onClose={() => setEditing(null)}
                onApplied={async () => {
                  setEditing(null);
                  await load();
                }}
              />
            )}
          </>
        )}
        {overview && tab === "meters" && <MeterList meters={overview.meters} />}
        {overview && tab === "customers" && <CustomerList customers={overview.customers} />}
        {data && tab === "review" && <Review git={data.git} onSaved={load} />}
      </main>
    </>
  );
}
