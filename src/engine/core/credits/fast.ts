import type { CompiledMeter, PropertyValue } from "../model.js";
import { filterDefaults } from "../usage/meters.js";
import { ratedMeters, UnratedQuantityError } from "./convert.js";
import type { CompiledCreditUnit, CreditRate } from "./types.js";

/**
 * The decision path's form of `callEvent`: the same rules, the unit's rates
 * worked out once into numbers, so pricing a call allocates little and does
 * no decimal arithmetic. The credits are a double like every counter, snapped
 * to 15 significant digits: the exact decimal result whenever it has that
 * few (1200 x 0.25 / 1000 + 300 x 1.0 / 1000 is 0.6, not 0.6000000000000001).
 * `bill` converts the stored quantities with exact decimals (`creditsFor`).
 */
interface Rated {
  id: string;
  key: string;
  readsValue: boolean;
  events: readonly string[];
  where: [string, PropertyValue[]][];
  defaults: Record<string, PropertyValue> | null;
}

interface Plan {
  rated: Rated[];
  /** Credits of a quantity vector (indexed like `rated`): credit-unit nesting resolved to per-meter factors by dimension. */
  credits: (q: (number | undefined)[], props: Readonly<Record<string, PropertyValue>>) => number;
}

/** A call's credits and how it is stored (see `CallEvent`), or why it cannot be priced. */
export interface FastCall {
  credits: number;
  type: string;
  value: number | null;
  filterProps: Record<string, PropertyValue> | null;
}

const plans = new WeakMap<CompiledCreditUnit, Plan>();

function rateFn(rate: CreditRate): (dimension: PropertyValue | undefined) => number | null {
  const per = Number(rate.per);
  const table = new Map<string, number>();
  for (const [k, v] of Object.entries(rate.rates)) table.set(k, Number(v) / per);
  const fallback = rate.default === null ? null : Number(rate.default) / per;
  if (rate.by === null) return () => fallback;
  return (dimension) => (dimension === undefined ? fallback : (table.get(String(dimension)) ?? fallback));
}

function planOf(
  unit: CompiledCreditUnit,
  meters: Readonly<Record<string, CompiledMeter>>,
  units: Readonly<Record<string, CompiledCreditUnit>> | undefined,
): Plan {
  let plan = plans.get(unit);
  if (plan !== undefined) return plan;
  const ids = ratedMeters(unit, units).filter((id) => Object.hasOwn(meters, id));
  const rated: Rated[] = ids.map((id) => {
    const m = meters[id] as CompiledMeter;
    const readsValue = m.aggregation === "count" || m.property === null;
    return {
      id,
      key: readsValue ? m.id : (m.property as string),
      readsValue,
      events: m.events,
      where: Object.entries(m.where),
      defaults: filterDefaults(m),
    };
  });
  const index = new Map(ids.map((id, i) => [id, i]));
  const credits = compileUnit(unit, index, units, 0);
  plan = { rated, credits };
  plans.set(unit, plan);
  return plan;
}

type CreditsFn = Plan["credits"];

function compileUnit(
  unit: CompiledCreditUnit,
  index: ReadonlyMap<string, number>,
  units: Readonly<Record<string, CompiledCreditUnit>> | undefined,
  depth: number,
): CreditsFn {
  const parts: {
    at: number;
    inner: CreditsFn | null;
    by: string | null;
    rate: ReturnType<typeof rateFn>;
    key: string;
  }[] = [];
  for (const [key, rate] of Object.entries(unit.rates)) {
    const inner =
      units !== undefined && Object.hasOwn(units, key) && depth < 32
        ? compileUnit(units[key] as CompiledCreditUnit, index, units, depth + 1)
        : null;
    parts.push({ at: index.get(key) ?? -1, inner, by: rate.by, rate: rateFn(rate), key });
  }
  return (q, props) => {
    let total = 0;
    for (const p of parts) {
      const n = p.inner !== null ? p.inner(q, props) : p.at < 0 ? undefined : q[p.at];
      if (n === undefined || n === 0) continue;
      const dimension = p.by === null ? undefined : props[p.by];
      const r = p.rate(dimension);
      if (r === null)
        throw new UnratedQuantityError(unit.id, p.key, dimension == null ? null : String(dimension));
      total += n * r;
    }
    return total;
  };
}

/** `callEvent` for the decision path (see the module comment); null when the call carries no rated quantity. */
export function fastCall(
  unit: CompiledCreditUnit,
  meters: Readonly<Record<string, CompiledMeter>>,
  properties: Readonly<Record<string, PropertyValue>> | undefined,
  units?: Readonly<Record<string, CompiledCreditUnit>>,
): FastCall | string | null {
  if (properties === undefined) return null;
  const plan = planOf(unit, meters, units);
  const q: (number | undefined)[] = [];
  let type: string | null = null;
  let value: number | null = null;
  let filterProps: Record<string, PropertyValue> | null = null;
  for (let i = 0; i < plan.rated.length; i++) {
    const r = plan.rated[i] as Rated;
    const raw = properties[r.key];
    if (raw === undefined) {
      q.push(undefined);
      continue;
    }
    const n =
      typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
    if (!Number.isFinite(n)) return `${r.key} must be a finite number`;
    for (const [k, accepted] of r.where) {
      const v = Object.hasOwn(properties, k) ? properties[k] : r.defaults?.[k];
      if (!accepted.some((a) => a === v || String(a) === String(v)))
        return `${k}=${String(v)} is not counted by meter ${r.id} (where filter)`;
    }
    if (type === null) type = r.events[0] as string;
    if (!r.events.includes(type)) {
      const shared = r.events.find((t) =>
        plan.rated.every((o, j) => j >= i || q[j] === undefined || o.events.includes(t)),
      );
      if (shared === undefined) return "the call's quantities belong to meters of different event types";
      type = shared;
    }
    if (r.readsValue) {
      if (value !== null && value !== n)
        return "two rated meters read the event value with different quantities";
      value = n;
    }
    if (r.defaults !== null) filterProps = Object.assign(filterProps ?? {}, r.defaults);
    q.push(n);
  }
  if (type === null) return null;
  try {
    const credits = Number(plan.credits(q, properties).toPrecision(15));
    return { credits, type, value, filterProps };
  } catch (err) {
    if (err instanceof UnratedQuantityError) return err.message;
    throw err;
  }
}
