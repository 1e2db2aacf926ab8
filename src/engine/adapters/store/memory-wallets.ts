import type { WalletTxKind } from "../../core/wallet/model.js";
import type { WalletBatch, WalletRow, WalletStore, WalletTxRow } from "../../core/wallet/store-rows.js";

/**
 * The wallets of the memory store: rows by customer and the ledger in write
 * order, its newest `retain` rows kept (like the store's events), so a
 * long-running process does not grow without bound.
 */
export class MemoryWallets implements WalletStore {
  private readonly rows = new Map<string, WalletRow>();
  private ledger: WalletTxRow[] = [];
  /** Ledger ids by customer (no key string built per transaction: the ledger takes one per debit). */
  private readonly ids = new Map<string, Set<string>>();

  constructor(private readonly retain: number) {}

  /** The batch's rows are fresh objects the engine does not keep: stored as they are. */
  write(batch: WalletBatch): void {
    const ids = this.ids;
    const ledger = this.ledger;
    for (const tx of batch.transactions) {
      let mine = ids.get(tx.customer);
      if (mine === undefined) ids.set(tx.customer, (mine = new Set()));
      if (mine.has(tx.id)) continue;
      mine.add(tx.id);
      ledger.push(tx);
    }
    for (const w of batch.wallets) this.rows.set(w.customer, w);
    if (this.ledger.length > this.retain * 2) {
      const drop = this.ledger.length - this.retain;
      for (let i = 0; i < drop; i++) {
        const t = this.ledger[i] as WalletTxRow;
        this.ids.get(t.customer)?.delete(t.id);
      }
      this.ledger = this.ledger.slice(drop);
    }
  }

  loadWallets(): WalletRow[] {
    return [...this.rows.values()].map((w) => structuredClone(w));
  }

  walletTransactions(customer: string, from: number, to: number): WalletTxRow[] {
    return this.ledger
      .filter((t) => t.customer === customer && t.at >= from && t.at < to)
      .map((t) => ({ ...t }));
  }

  walletActivity(from: number, to: number, kinds: readonly WalletTxKind[]): WalletTxRow[] {
    return this.ledger
      .filter((t) => t.at >= from && t.at < to && kinds.includes(t.kind))
      .map((t) => ({ ...t }));
  }

  walletTransaction(customer: string, id: string): WalletTxRow | null {
    if (this.ids.get(customer)?.has(id) !== true) return null;
    const tx = this.ledger.find((t) => t.customer === customer && t.id === id);
    return tx === undefined ? null : { ...tx };
  }
}
