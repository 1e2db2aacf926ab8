import type { ChargeModel, DecimalString, Tier } from "../model.js";
import { type Decimal, decConst, decStr, ZERO } from "../money.js";

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
  /**
   * `percentage` with `free_events: N`: the summed value of the period's
   * first N events (by timestamp, then id). They are free entirely: neither
   * the rate nor the fixed fee applies to them (SPEC §15, Lago's
   * `free_units_per_events`). Zero when absent.
   */
  freeEventsQuantity?: Decimal;
}

/**
 * The charge of `input` under `model`. With `detail: false` the breakdown
 * text is left empty: the engine prices calls this way, many times a second.
 */
export function rateCharge(model: ChargeModel, input: ChargeInput, options = { detail: true }): Charge {
  const text = options.detail;
  switch (model.model) {
    case "per_unit": {
      const billable = positive(input.quantity.minus(decConst(model.freeUnits)));
      return {
        amount: billable.times(decConst(model.unitPrice)),
        unitPrice: model.unitPrice,
        detail: text
          ? `${decStr(billable)} x ${model.unitPrice}${model.freeUnits ? ` (${model.freeUnits} free)` : ""}`
          : "",
      };
    }
    case "graduated":
      return graduated(model.tiers, input.quantity, text);
    case "volume":
      return volume(model.tiers, input.quantity, text);
    case "package": {
      const billable = positive(input.quantity.minus(decConst(model.freeUnits)));
      const ratio = billable.div(decConst(model.packageSize));
      const packages = model.rounding === "up" ? ratio.ceil() : ratio.floor();
      return {
        amount: packages.times(decConst(model.packagePrice)),
        unitPrice: model.packagePrice,
        detail: text ? `${decStr(packages)} package(s) of ${model.packageSize} x ${model.packagePrice}` : "",
      };
    }
    case "percentage": {
      const feeEvents = Math.max(0, input.events - model.freeEvents);
      const free = model.freeEvents > 0 ? (input.freeEventsQuantity ?? ZERO) : ZERO;
      const billable = positive(input.quantity.minus(free));
      const pct = billable.times(decConst(model.rate)).div(100);
      const fees = decConst(model.fixedFee).times(feeEvents);
      return {
        amount: pct.plus(fees),
        unitPrice: null,
        detail: text
          ? `${model.rate}% of ${decStr(billable)} + ${feeEvents} x ${model.fixedFee}` +
            (model.freeEvents > 0 ? ` (first ${model.freeEvents} events free)` : "")
          : "",
      };
    }
  }
}

function positive(d: Decimal): Decimal {
  return d.isNegative() ? ZERO : d;
}

/** R10: every tier charges the units that fall inside it; its flat fee once the tier is reached (tier 1 always). */
function graduated(tiers: Tier[], quantity: Decimal, text: boolean): Charge {
  const q = positive(quantity);
  let amount = ZERO;
  let lower = ZERO;
  const parts: string[] = [];
  for (const [i, tier] of tiers.entries()) {
    if (i > 0 && q.lte(lower)) break;
    const upper = tier.upTo === null ? q : minDec(q, decConst(tier.upTo));
    const units = positive(upper.minus(lower));
    const flat = decConst(tier.flatFee);
    amount = amount.plus(units.times(decConst(tier.unitPrice))).plus(flat);
    if (text)
      parts.push(`${decStr(units)} x ${tier.unitPrice}${flat.isZero() ? "" : ` + flat ${tier.flatFee}`}`);
    if (tier.upTo === null) break;
    lower = decConst(tier.upTo);
  }
  return { amount, unitPrice: null, detail: parts.join(" + ") };
}

/** R10: the whole quantity at the price of the tier it falls in, plus that tier's flat fee. */
function volume(tiers: Tier[], quantity: Decimal, text: boolean): Charge {
  const q = positive(quantity);
  const tier = tiers.find((t) => t.upTo === null || q.lte(decConst(t.upTo))) ?? tiers[tiers.length - 1];
  if (!tier) return { amount: ZERO, unitPrice: null, detail: "no tiers" };
  const flat = decConst(tier.flatFee);
  return {
    amount: q.times(decConst(tier.unitPrice)).plus(flat),
    unitPrice: tier.unitPrice,
    detail: text ? `${decStr(q)} x ${tier.unitPrice}${flat.isZero() ? "" : ` + flat ${tier.flatFee}`}` : "",
  };
}

function minDec(a: Decimal, b: Decimal): Decimal {
  return a.lt(b) ? a : b;
}
