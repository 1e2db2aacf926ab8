import type { ChargeModel, DecimalString, Tier } from "../model.js";
import { type Decimal, dec, decStr, ZERO } from "../money.js";

/**
 * The charge models of SPEC §2.3, exact (R9, R10). Amounts come back
 * unrounded: the invoice rounds each line once, after multiplying.
 */
export interface Charge {
  amount: Decimal;
  /** The single unit price that applies, when there is one (graduated has none). */
  unitPrice: DecimalString | null;
  /** Human-readable breakdown ("1,000 x 0 + 500 x 0.04 + flat 10"). */
  detail: string;
}

/** What a charge model is applied to: the period's quantity and, for `percentage`, the number of events. */
export interface ChargeInput {
  quantity: Decimal;
  events: number;
}

export function rateCharge(model: ChargeModel, input: ChargeInput): Charge {
  switch (model.model) {
    case "per_unit": {
      const billable = positive(input.quantity.minus(model.freeUnits));
      return {
        amount: billable.times(model.unitPrice),
        unitPrice: model.unitPrice,
        detail: `${decStr(billable)} x ${model.unitPrice}${model.freeUnits ? ` (${model.freeUnits} free)` : ""}`,
      };
    }
    case "graduated":
      return graduated(model.tiers, input.quantity);
    case "volume":
      return volume(model.tiers, input.quantity);
    case "package": {
      const billable = positive(input.quantity.minus(model.freeUnits));
      const ratio = billable.div(model.packageSize);
      const packages = model.rounding === "up" ? ratio.ceil() : ratio.floor();
      return {
        amount: packages.times(model.packagePrice),
        unitPrice: model.packagePrice,
        detail: `${decStr(packages)} package(s) of ${model.packageSize} x ${model.packagePrice}`,
      };
    }
    case "percentage": {
      const feeEvents = Math.max(0, input.events - model.freeEvents);
      const pct = positive(input.quantity).times(model.rate).div(100);
      const fees = dec(model.fixedFee).times(feeEvents);
      return {
        amount: pct.plus(fees),
        unitPrice: null,
        detail: `${model.rate}% of ${decStr(input.quantity)} + ${feeEvents} x ${model.fixedFee}`,
      };
    }
  }
}

function positive(d: Decimal): Decimal {
  return d.isNegative() ? ZERO : d;
}

/** R10: every tier charges the units that fall inside it; its flat fee once the tier is reached (tier 1 always). */
function graduated(tiers: Tier[], quantity: Decimal): Charge {
  const q = positive(quantity);
  let amount = ZERO;
  let lower = ZERO;
  const parts: string[] = [];
  for (const [i, tier] of tiers.entries()) {
    if (i > 0 && q.lte(lower)) break;
    const upper = tier.upTo === null ? q : minDec(q, dec(tier.upTo));
    const units = positive(upper.minus(lower));
    amount = amount.plus(units.times(tier.unitPrice)).plus(tier.flatFee);
    parts.push(
      `${decStr(units)} x ${tier.unitPrice}${dec(tier.flatFee).isZero() ? "" : ` + flat ${tier.flatFee}`}`,
    );
    if (tier.upTo === null) break;
    lower = dec(tier.upTo);
  }
  return { amount, unitPrice: null, detail: parts.join(" + ") };
}

/** R10: the whole quantity at the price of the tier it falls in, plus that tier's flat fee. */
function volume(tiers: Tier[], quantity: Decimal): Charge {
  const q = positive(quantity);
  const tier = tiers.find((t) => t.upTo === null || q.lte(t.upTo)) ?? tiers[tiers.length - 1];
  if (!tier) return { amount: ZERO, unitPrice: null, detail: "no tiers" };
  const flat = dec(tier.flatFee);
  return {
    amount: q.times(tier.unitPrice).plus(flat),
    unitPrice: tier.unitPrice,
    detail: `${decStr(q)} x ${tier.unitPrice}${flat.isZero() ? "" : ` + flat ${tier.flatFee}`}`,
  };
}

function minDec(a: Decimal, b: Decimal): Decimal {
  return a.lt(b) ? a : b;
}
