import type { ItemStore } from './item-store.js';

/**
 * Money reserved in a batch's budget, given back exactly once: release() is idempotent and releases what
 * the hold still has, so one try/finally around its use covers every path out (answer, failure, cancel,
 * quota wait, a thrown Redis error). Part of it may move to another hold first (moveTo): a call's actual
 * cost, kept by the item until it records it.
 */
export class BudgetHold {
  private released = false;

  private constructor(
    private readonly store: Pick<ItemStore, 'reserveBudget' | 'releaseBudget'>,
    readonly batchId: string,
    private usd: number,
  ) {}

  /**
   * Reserves `usd` of the batch's budget; null when the budget cannot cover it. Nothing (a zero-priced
   * provider) is always covered (RESERVE_BUDGET refuses only a positive amount): no round trip for it.
   */
  static async take(
    store: Pick<ItemStore, 'reserveBudget' | 'releaseBudget'>,
    batchId: string,
    usd: number,
  ): Promise<BudgetHold | null> {
    if (usd <= 0) return BudgetHold.empty(store, batchId);
    return (await store.reserveBudget(batchId, usd)) ? new BudgetHold(store, batchId, usd) : null;
  }

  /** A hold of nothing yet, that other holds move money into. */
  static empty(store: Pick<ItemStore, 'reserveBudget' | 'releaseBudget'>, batchId: string): BudgetHold {
    return new BudgetHold(store, batchId, 0);
  }

  get usdHeld(): number {
    return this.usd;
  }

  /** Moves up to `usd` of this hold into `to` (both of the same batch); what stays is released with this one. */
  moveTo(to: BudgetHold, usd: number): void {
    if (to.released || to.batchId !== this.batchId)
      throw new Error('budget moved into a hold of another batch, or one already released');
    const moved = Math.min(this.usd, usd);
    this.usd -= moved;
    to.usd += moved;
  }

  /** Gives what is left back to the batch's budget; later calls do nothing. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const usd = this.usd;
    this.usd = 0;
    if (usd > 0) await this.store.releaseBudget(this.batchId, usd);
  }
}
