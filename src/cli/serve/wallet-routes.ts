import type { FastifyInstance } from "fastify";
import { InputError, type Limitr } from "limitr-engine";
import { HttpError } from "./errors.js";
import {
  balanceResponse,
  topUpBody,
  topUpResponse,
  transactionsQuery,
  transactionsResponse,
} from "./schemas.js";
import type { ServeState } from "./state.js";

const errors = { "4xx": { $ref: "Error#" }, "5xx": { $ref: "Error#" } } as const;
const secured = [{ apiKey: [] }];
const params = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", minLength: 1, maxLength: 256 } },
} as const;

/** A customer without a wallet is a missing resource over HTTP, not bad input. */
function withWallet<T>(customer: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof InputError && err.message.startsWith(`customer ${customer} has no wallet`))
      throw new HttpError(404, "no_wallet", err.message);
    throw err;
  }
}

/** `GET /v1/customers/{id}/balance`, `POST .../topups`, `GET .../transactions` (SPEC §12, §13). */
export function registerWalletRoutes(app: FastifyInstance, state: ServeState): void {
  const engine = (): Limitr => state.use();
  app.get(
    "/v1/customers/:id/balance",
    {
      schema: {
        tags: ["wallets"],
        summary: "The customer's prepaid wallet: balance, available funds, reserve and lots",
        security: secured,
        params,
        response: { 200: balanceResponse, ...errors },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      return withWallet(id, () => engine().balance(id));
    },
  );

  app.post(
    "/v1/customers/:id/topups",
    {
      schema: {
        tags: ["wallets"],
        summary: "Add funds to the customer's wallet (idempotent by id; invoiced by `limitr bill`)",
        security: secured,
        params,
        body: topUpBody,
        response: { 200: topUpResponse, ...errors },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const b = req.body as {
        amount: string | number;
        id?: string;
        expiresAt?: string;
        priority?: number;
        note?: string;
      };
      const { duplicate, ...transaction } = withWallet(id, () =>
        engine().topUp(id, b.amount, {
          id: b.id,
          expiresAt: b.expiresAt,
          priority: b.priority,
          note: b.note,
        }),
      );
      return { transaction, duplicate };
    },
  );

  app.get(
    "/v1/customers/:id/transactions",
    {
      schema: {
        tags: ["wallets"],
        summary:
          "The wallet's ledger, oldest first: credits, debits, grants, expiries, rollovers, adjustments",
        security: secured,
        params,
        querystring: transactionsQuery,
        response: { 200: transactionsResponse, ...errors },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const q = req.query as { from?: string; to?: string };
      const transactions = withWallet(id, () => engine().transactions(id, { from: q.from, to: q.to }));
      return { customer: id, transactions };
    },
  );
}
