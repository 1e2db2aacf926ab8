import { creditEventTypes } from "../credits/convert.js";
import type { CompiledPolicy, MeteredEntitlement } from "../model.js";

/**
 * Which entitlements `simulate` need not replay: those whose denials cannot
 * differ between the two policies. An entitlement qualifies when
 *
 * - everything that decides whether it refuses a call is equal under both
 *   policies: its meter (or credit unit), limit, period, mode and scope in
 *   every plan, whether each plan exists and is an add-on, its contract
 *   overrides (limit, mode, expiry), and the timezone, default plan and
 *   contract plans, add-ons and parents;
 * - where a spend cap or a wallet touches it (R17, R18: their spend depends
 *   on prices), the money terms are equal too: every plan with a wallet or a
 *   cap counting it (prices, caps, wallet, price lists), the contracts that
 *   may hold such a plan, and the credit units, currency and meters;
 * - the same holds for every entitlement it is coupled to. A call is counted
 *   on all the entitlements its event feeds or on none (R4), so an event type
 *   that feeds two entitlements couples their counters: a denial by one
 *   changes what the other counts. A cap couples the entitlements it counts,
 *   and a wallet those it pays for. The entitlements that events couple,
 *   directly or through a chain, form a group that is skipped whole or not at all.
 *
 * Such a group refuses exactly the same events under both policies, so it
 * changes nothing the comparison reports; leaving it out of the replay is what
 * makes a price-only change cost no replay at all. Prices are not part of the
 * comparison: a `price` change alone leaves an entitlement skippable.
 */
export function unchangedEnforcement(base: CompiledPolicy, head: CompiledPolicy): Set<string> {
  const out = new Set<string>();
  if (assignments(base) !== assignments(head)) return out;
  const ids = new Set([...metered(base).keys(), ...metered(head).keys()]);
  const touched = new Set([...touchedByMoney(base), ...touchedByMoney(head)]);
  const moneyEqual = moneyContext(base) === moneyContext(head);
  const groups = new Groups();
  for (const p of [base, head]) {
    for (const [id, types] of metered(p)) for (const t of types) groups.join(`e:${id}`, `t:${t}`);
    // A cap's spend, and a wallet's balance, are shared by the entitlements they cover.
    for (const ids of moneyShares(p)) for (const id of ids) groups.join(`e:${id}`, `e:${ids[0]}`);
  }
  const changed = new Set<string>();
  for (const id of ids) {
    const same =
      view(base, id) === view(head, id) &&
      (!touched.has(id) || (moneyEqual && moneyView(base, id) === moneyView(head, id)));
    if (!same) changed.add(groups.root(`e:${id}`));
  }
  for (const id of ids) if (!changed.has(groups.root(`e:${id}`))) out.add(id);
  return out;
}

/** Who is on which plan: the timezone, the default plan and the contracts' plans, add-ons and parents. */
function assignments(p: CompiledPolicy): string {
  const customers = Object.keys(p.customers)
    .sort()
    .map((id) => {
      const c = p.customers[id]!;
      return [id, c.plan, c.addOns ?? [], c.parent, c.since];
    });
  return JSON.stringify([p.timezone, p.defaultPlan, customers]);
}

/** Every metered entitlement id of the policy's plans, with the event types that feed it. */
function metered(p: CompiledPolicy): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const plan of Object.values(p.plans)) {
    for (const ent of Object.values(plan.entitlements)) {
      if (ent.kind !== "metered") continue;
      let types = out.get(ent.id);
      if (!types) out.set(ent.id, (types = new Set()));
      for (const t of feeds(p, ent)) types.add(t);
    }
  }
  return out;
}

function feeds(p: CompiledPolicy, ent: MeteredEntitlement): readonly string[] {
  const credit = p.creditUnits?.[ent.meter];
  if (credit) return creditEventTypes(credit, p.meters, p.creditUnits);
  return p.meters[ent.meter]?.events ?? [];
}

/** Sets of entitlements one cap counts, or one plan's wallet (or a contract's) pays for. */
function moneyShares(p: CompiledPolicy): string[][] {
  const out: string[][] = [];
  for (const plan of Object.values(p.plans)) {
    for (const cap of Object.values(plan.caps ?? {})) out.push(cap.entitlements);
    const prepaid = Object.values(plan.entitlements).filter(
      (e) => e.kind === "metered" && e.mode === "prepaid",
    );
    out.push(prepaid.map((e) => e.id));
  }
  for (const c of Object.values(p.customers)) {
    for (const cap of Object.values(c.caps ?? {})) out.push(cap.entitlements);
    out.push(Object.keys(c.overrides).filter((e) => c.overrides[e]?.mode === "prepaid"));
  }
  return out.filter((ids) => ids.length > 1);
}

/** Entitlements a cap counts or a wallet pays for (mode `prepaid` in a plan or a contract override). */
function touchedByMoney(p: CompiledPolicy): Set<string> {
  const out = new Set<string>();
  const caps = [
    ...Object.values(p.plans).flatMap((plan) => Object.values(plan.caps ?? {})),
    ...Object.values(p.customers).flatMap((c) => Object.values(c.caps ?? {})),
  ];
  for (const cap of caps) for (const e of cap.entitlements) out.add(e);
  for (const plan of Object.values(p.plans))
    for (const ent of Object.values(plan.entitlements))
      if (ent.kind === "metered" && ent.mode === "prepaid") out.add(ent.id);
  for (const c of Object.values(p.customers))
    for (const [e, o] of Object.entries(c.overrides)) if (o.mode === "prepaid") out.add(e);
  return out;
}

/** What prices any capped or prepaid call: the credit units, the currency and the meters. */
function moneyContext(p: CompiledPolicy): string {
  return JSON.stringify([p.creditUnits ?? null, p.currency, p.meters]);
}

/** Plans where a cap counts the entitlement or a wallet may pay for it. */
function moneyPlans(p: CompiledPolicy, id: string): Set<string> {
  const out = new Set<string>();
  for (const [planId, plan] of Object.entries(p.plans)) {
    const ent = plan.entitlements[id];
    const prepaid = ent?.kind === "metered" && ent.mode === "prepaid";
    const capped = Object.values(plan.caps ?? {}).some((c) => c.entitlements.includes(id));
    if (prepaid || capped || plan.wallet !== undefined) out.add(planId);
  }
  return out;
}

/**
 * The money terms a capped or prepaid entitlement is decided under: every plan
 * of `moneyPlans`, whole (prices, caps, wallet, price lists), and the terms of
 * every contract that may hold such a plan or has money terms of its own.
 */
function moneyView(p: CompiledPolicy, id: string): string {
  const plans = moneyPlans(p, id);
  const contracts: unknown[] = [];
  for (const cid of Object.keys(p.customers).sort()) {
    const c = p.customers[cid]!;
    const o = c.overrides[id];
    const relevant =
      c.wallet !== undefined ||
      c.caps !== undefined ||
      o?.mode === "prepaid" ||
      c.plan === null ||
      plans.has(c.plan) ||
      (c.addOns ?? []).some((a) => plans.has(a));
    if (relevant) contracts.push([cid, c.currency ?? null, c.wallet ?? null, c.caps ?? null, o ?? null]);
  }
  return JSON.stringify([[...plans].sort().map((planId) => p.plans[planId]), contracts]);
}

/** Everything about one entitlement that decides its refusals, as a comparable string (prices left out). */
function view(p: CompiledPolicy, id: string): string {
  const plans = Object.keys(p.plans)
    .sort()
    .map((planId) => {
      const plan = p.plans[planId]!;
      const ent = plan.entitlements[id];
      let shape: unknown = null;
      if (ent?.kind === "flag") shape = ["flag", ent.enabled];
      else if (ent?.kind === "metered") {
        const credit = p.creditUnits?.[ent.meter];
        const meter = credit ? [credit, p.meters] : p.meters[ent.meter];
        shape = [ent.meter, meter, ent.limit, ent.period, ent.mode, ent.scope];
      }
      return [planId, plan.addOn === true, plan.interval, plan.anchor, shape];
    });
  const overrides: unknown[] = [];
  for (const cid of Object.keys(p.customers).sort()) {
    const o = p.customers[cid]!.overrides[id];
    if (o) overrides.push([cid, o.limit, o.mode, o.expires]);
  }
  return JSON.stringify([plans, overrides]);
}

/** Union-find over string keys. */
class Groups {
  private readonly parent = new Map<string, string>();

  root(key: string): string {
    let k = key;
    for (let up = this.parent.get(k); up !== undefined && up !== k; up = this.parent.get(k)) {
      const grand = this.parent.get(up) ?? up;
      this.parent.set(k, grand);
      k = grand;
    }
    return k;
  }

  join(a: string, b: string): void {
    const ra = this.root(a);
    const rb = this.root(b);
    if (ra !== rb) this.parent.set(ra, rb);
  }
}
