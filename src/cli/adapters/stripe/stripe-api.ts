import type Stripe from "stripe";

/**
 * What `bill --stripe` asks of Stripe: the few calls below, so the push logic
 * runs unchanged against the SDK (`sdkApi`) or against a recorder that sends
 * nothing (`dryRunApi`, for `bill --stripe --dry-run`).
 */
export interface StripeApi {
  /** The invoice limitr created for `number` (metadata `limitr_invoice`), whatever its idempotency key. */
  findInvoice(customer: string, number: string): Promise<FoundInvoice | null>;
  /** The `limitr_line` metadata of the items already on `invoice`. */
  itemLines(invoice: string): Promise<Set<string>>;
  createInvoice(params: Stripe.InvoiceCreateParams, idempotencyKey: string): Promise<string>;
  createItem(params: Stripe.InvoiceItemCreateParams, idempotencyKey: string): Promise<void>;
  invoiceStatus(invoice: string): Promise<string>;
  finalize(invoice: string, idempotencyKey: string): Promise<void>;
}

export interface FoundInvoice {
  id: string;
  status: string;
  contentHash: string | null;
}

/**
 * The official SDK. Lookups use the list endpoints (filtered by customer,
 * or by invoice), not the search API: search is eventually consistent (Stripe
 * documents up to a minute of delay, more during incidents) and unavailable
 * in some regions, while lists read what was just written.
 */
export function sdkApi(stripe: Stripe): StripeApi {
  return {
    async findInvoice(customer, number) {
      for await (const inv of stripe.invoices.list({ customer, limit: 100 })) {
        if (inv.metadata?.limitr_invoice !== number) continue;
        return {
          id: inv.id as string,
          status: inv.status ?? "draft",
          contentHash: inv.metadata?.limitr_content_hash ?? null,
        };
      }
      return null;
    },
    async itemLines(invoice) {
      const lines = new Set<string>();
      for await (const item of stripe.invoiceItems.list({ invoice, limit: 100 })) {
        const line = item.metadata?.limitr_line;
        if (line !== undefined) lines.add(line);
      }
      return lines;
    },
    async createInvoice(params, idempotencyKey) {
      const created = await stripe.invoices.create(params, { idempotencyKey });
      return created.id as string;
    },
    async createItem(params, idempotencyKey) {
      await stripe.invoiceItems.create(params, { idempotencyKey });
    },
    async invoiceStatus(invoice) {
      return (await stripe.invoices.retrieve(invoice)).status ?? "draft";
    },
    async finalize(invoice, idempotencyKey) {
      await stripe.invoices.finalizeInvoice(invoice, {}, { idempotencyKey });
    },
  };
}

/** One request `bill --stripe` would send. */
export interface PlannedRequest {
  method: "GET" | "POST";
  path: string;
  idempotencyKey: string | null;
  params: Record<string, unknown>;
}

/**
 * Records the requests instead of sending them. Lookups find nothing (as
 * against a Stripe account limitr has not written to) and created objects get
 * placeholder ids, `<invoice:NUMBER>`, that later requests refer to.
 */
export function dryRunApi(requests: PlannedRequest[]): StripeApi {
  const get = (path: string, params: Record<string, unknown>) =>
    requests.push({ method: "GET", path, idempotencyKey: null, params });
  const post = (path: string, idempotencyKey: string, params: object) =>
    requests.push({ method: "POST", path, idempotencyKey, params: { ...params } });
  return {
    async findInvoice(customer) {
      get("/v1/invoices", { customer, limit: 100 });
      return null;
    },
    async itemLines(invoice) {
      get("/v1/invoiceitems", { invoice, limit: 100 });
      return new Set();
    },
    async createInvoice(params, key) {
      post("/v1/invoices", key, params);
      const meta = params.metadata;
      return `<invoice:${(meta && typeof meta === "object" ? meta.limitr_invoice : null) ?? ""}>`;
    },
    async createItem(params, key) {
      post("/v1/invoiceitems", key, params);
    },
    async invoiceStatus(invoice) {
      get(`/v1/invoices/${invoice}`, {});
      return "draft";
    },
    async finalize(invoice, key) {
      post(`/v1/invoices/${invoice}/finalize`, key, {});
    },
  };
}
