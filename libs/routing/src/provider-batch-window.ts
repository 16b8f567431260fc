/**
 * How long a provider's own Batch API takes, learned (issue 16 §3): it promises its 24 h window, and most
 * batches finish far sooner. Routing counts on the slowest of the recent provider batches (never beyond the
 * window) and adds the cloud margin on top, so an item goes there only when its deadline absorbs that.
 */

/**
 * A line still in a provider batch when its item's deadline is this near is moved to a synchronous route
 * (apps/worker ProviderBatchRunner): long enough for a standard call of a large item. Routing counts it as part
 * of the batch tier's time, so an item goes there only when its deadline leaves room to move it after all.
 */
export const BATCH_ESCALATION_LEAD_MS = 5 * 60_000;

/** Provider batches remembered per route: enough to see a slow one, few enough to follow a provider that speeds up. */
export const BATCH_DURATIONS_KEPT = 20;

/** Fewer finished provider batches than this, and the configured expectation stands. */
export const MIN_BATCH_SAMPLES = 3;

export interface BatchWindowQuestion {
  /** Durations of the route's recent provider batches (creation to completion), newest first. */
  recentMs: readonly number[];
  /** The tier's `expectedMs` (the whole window unless the operator knows better). */
  configuredMs: number;
  /** What the provider promises at most (its completion window). */
  windowMs: number;
}

export function batchWindowMs(q: BatchWindowQuestion): number {
  const recent = q.recentMs.slice(0, BATCH_DURATIONS_KEPT).filter((ms) => Number.isFinite(ms) && ms >= 0);
  if (recent.length < MIN_BATCH_SAMPLES) return Math.min(q.configuredMs, q.windowMs);
  return Math.min(Math.max(...recent), q.windowMs);
}
