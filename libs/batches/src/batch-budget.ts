import { defineScript, type RedisClient } from '#libs/redis';
import type { BatchKeys } from './batch-keys.js';
import { RESERVE_BUDGET } from './reserve-budget.lua.js';

/** Tokens and cost an item's calls used on one provider. */
export interface ItemSpent {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/**
 * A batch's maxCostUsd, held before each cloud call. What finished items cost is added by their transition;
 * what unfinished ones already spent is carried (carriedSpent) and counts at once.
 */
export class BatchBudget {
  private readonly reserveScript;

  constructor(
    redis: RedisClient,
    private readonly keys: BatchKeys,
  ) {
    this.reserveScript = defineScript(redis, RESERVE_BUDGET);
  }

  /**
   * Reserves `usd` of the batch's budget before a cloud call, atomically: check-then-spend would let
   * concurrent workers overshoot. True when reserved (or the batch has no budget); false when it would
   * exceed maxCostUsd (the batch is then marked as having reached its budget).
   */
  async reserve(batchId: string, usd: number): Promise<boolean> {
    return (await this.reserveScript({ batch: this.keys.batch(batchId) }, [String(usd)])) === 1;
  }

  /** Gives a reservation back once the call is over (its actual cost is added by the item's transition). */
  async release(batchId: string, usd: number): Promise<void> {
    await this.reserveScript({ batch: this.keys.batch(batchId) }, [String(-usd)]);
  }
}

/**
 * What an unfinished item's calls used, as the item scripts take it (CARRY_SPENT_LUA): input tokens,
 * output tokens, cost. The item keeps it until it finishes; the batch's budget counts the cost at once.
 */
export function carriedSpent(spent: ItemSpent): [inputTokens: string, outputTokens: string, costUsd: string] {
  return [String(spent.inputTokens), String(spent.outputTokens), String(roundUsd(spent.costUsd))];
}

/** USD to the nano-dollar: sums of float costs otherwise show as 0.30000000000000004. */
export function roundUsd(n: number): number {
  return Math.round(n * 1e9) / 1e9;
}
