import type { EntitlementCell, Overview } from "../types.js";

export type PlanEdit =
  | { kind: "entitlement"; plan: string; entitlement: string }
  | { kind: "tiers"; plan: string; entitlement: string }
  | { kind: "grant"; plan: string };

function Cell({
  cell,
  plan,
  entitlement,
  onEdit,
}: {
  cell: EntitlementCell | undefined;
  plan: string;
  entitlement: string;
  onEdit: (edit: PlanEdit) => void;
}) {
  if (!cell) return <td class="muted">not included</td>;
  if (cell.kind === "flag") return <td>{cell.enabled ? "included" : "not included"}</td>;
  return (
    <td>
      <div>
        <strong>{cell.limit}</strong> per {cell.period}, {cell.mode}
      </div>
      <div class="price">{cell.price}</div>
      <button type="button" class="link" onClick={() => onEdit({ kind: "entitlement", plan, entitlement })}>
        Edit
        <span class="visually-hidden">
          {" "}
          {entitlement} on {plan}
        </span>
      </button>
      {cell.tiered && (
        <>
          {" · "}
          <button type="button" class="link" onClick={() => onEdit({ kind: "tiers", plan, entitlement })}>
            Edit tiers
            <span class="visually-hidden">
              {" "}
              of {entitlement} on {plan}
            </span>
          </button>
        </>
      )}
    </td>
  );
}

/** Plans across, entitlements down: limit, mode and price in words in every cell. */
export function PlanMatrix({ overview, onEdit }: { overview: Overview; onEdit: (edit: PlanEdit) => void }) {
  return (
    <section aria-labelledby="plans-heading">
      <h2 id="plans-heading">Plans and entitlements</h2>
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard */}
      <section class="scroll" aria-label="Plans and entitlements table" tabIndex={0}>
        <table class="matrix">
          <thead>
            <tr>
              <th scope="col">Entitlement</th>
              {overview.plans.map((p) => (
                <th key={p.id} scope="col">
                  {p.name} <span class="muted">({p.id})</span>
                  <div class="muted">{p.fee}</div>
                  <div class="muted">{p.wallet ? `Wallet: ${p.wallet}` : "No wallet"}</div>
                  <button type="button" class="link" onClick={() => onEdit({ kind: "grant", plan: p.id })}>
                    Wallet grant
                    <span class="visually-hidden"> of {p.id}</span>
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {overview.entitlements.map((e) => (
              <tr key={e}>
                <th scope="row">{e}</th>
                {overview.plans.map((p) => (
                  <Cell key={p.id} cell={p.entitlements[e]} plan={p.id} entitlement={e} onEdit={onEdit} />
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </section>
  );
}
