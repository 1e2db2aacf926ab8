import { useCallback, useEffect, useState } from "preact/hooks";
import { api } from "./api.js";
import { type ContractPart, CustomersPage } from "./components/CustomersPage.js";
import { DiagnosticList } from "./components/DiagnosticList.js";
import { EntitlementEditor } from "./components/EntitlementEditor.js";
import { HistoryPage } from "./components/HistoryPage.js";
import { MeterList } from "./components/MeterList.js";
import { NewPlanForm } from "./components/NewPlanForm.js";
import { type PlanEdit, PlanMatrix } from "./components/PlanMatrix.js";
import { Review } from "./components/Review.js";
import { RowsEditor } from "./components/RowsEditor.js";
import type { FormField, PolicyResponse } from "./types.js";

const TABS = [
  { id: "plans", label: "Plans" },
  { id: "meters", label: "Meters" },
  { id: "customers", label: "Customers" },
  { id: "review", label: "Review and save" },
  { id: "history", label: "History" },
] as const;
type Tab = (typeof TABS)[number]["id"];

type Editing = PlanEdit | { kind: "contract"; customer: string; part: ContractPart } | { kind: "copy" };

const CONTRACT_FORMS = { overrides: "Override", discounts: "Discount", credits: "Credit" } as const;
const ROW_NAMES = { overrides: "Override", discounts: "Discount", credits: "Credit" } as const;

export function App() {
  const [tab, setTab] = useState<Tab>("plans");
  const [data, setData] = useState<PolicyResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<Editing | null>(null);
  const [version, setVersion] = useState(0);

  const load = useCallback(async () => {
    try {
      setData(await api.get<PolicyResponse>("/api/policy"));
      setVersion((v) => v + 1);
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
  const done = async () => {
    setEditing(null);
    await load();
  };
  const close = () => setEditing(null);
  const entitlementChoice: FormField = {
    key: "entitlement",
    label: "Entitlement",
    kind: "choice",
    choices: overview?.entitlements ?? [],
    help: "The entitlement the override changes for this customer.",
    empty: "choose one",
  };

  const editor = () => {
    if (!editing || !data || !overview) return null;
    if (editing.kind === "entitlement")
      return (
        <EntitlementEditor
          key={`${editing.plan}/${editing.entitlement}`}
          plan={editing.plan}
          entitlement={editing.entitlement}
          fields={data.fields}
          onClose={close}
          onApplied={done}
        />
      );
    if (editing.kind === "tiers" && data.forms.Tier)
      return (
        <RowsEditor
          key={`tiers/${editing.plan}/${editing.entitlement}`}
          title={`Tiers of ${editing.entitlement} on the ${editing.plan} plan`}
          rowName="Tier"
          path={["plans", editing.plan, "entitlements", editing.entitlement, "price", "tiers"]}
          form={data.forms.Tier}
          shape="list"
          onClose={close}
          onApplied={done}
        />
      );
    if (editing.kind === "grant" && data.forms.WalletGrant)
      return (
        <RowsEditor
          key={`grant/${editing.plan}`}
          title={`Wallet grant of the ${editing.plan} plan`}
          rowName="Grant"
          path={["plans", editing.plan, "wallet", "grant"]}
          form={data.forms.WalletGrant}
          shape="single"
          onClose={close}
          onApplied={done}
        />
      );
    if (editing.kind === "contract") {
      const form = data.forms[CONTRACT_FORMS[editing.part]];
      if (!form) return null;
      return (
        <RowsEditor
          key={`${editing.customer}/${editing.part}`}
          title={`${editing.part[0]?.toUpperCase()}${editing.part.slice(1)} of ${editing.customer}`}
          rowName={ROW_NAMES[editing.part]}
          path={["customers", editing.customer, editing.part]}
          form={form}
          shape={editing.part === "overrides" ? "map" : "list"}
          keyField={editing.part === "overrides" ? entitlementChoice : undefined}
          onClose={close}
          onApplied={done}
        />
      );
    }
    if (editing.kind === "copy")
      return (
        <NewPlanForm
          overview={overview}
          onClose={close}
          onCreated={async () => {
            await done();
          }}
        />
      );
    return null;
  };

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
            onClick={() => {
              setTab(t.id);
              setEditing(null);
            }}
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
            <PlanMatrix overview={overview} onEdit={setEditing} />
            <p>
              <button type="button" class="secondary" onClick={() => setEditing({ kind: "copy" })}>
                New plan from a copy
              </button>
            </p>
            {editor()}
          </>
        )}
        {overview && tab === "meters" && <MeterList meters={overview.meters} />}
        {overview && tab === "customers" && (
          <>
            {editor()}
            <CustomersPage
              overview={overview}
              version={version}
              onEdit={(customer, part) => setEditing({ kind: "contract", customer, part })}
            />
          </>
        )}
        {data && tab === "review" && <Review git={data.git} onSaved={load} />}
        {tab === "history" && <HistoryPage />}
      </main>
    </>
  );
}
