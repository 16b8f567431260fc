/**
 * Earliest deadline first on local queues: BullMQ runs lower priority numbers first, so the number is
 * the deadline in minutes since 2026-01-01, clamped to BullMQ's range (1 … 2^21 − 1, about four years).
 * Items due within the same minute keep their arrival order; later than four years out, they tie.
 */
const BASE_MS = Date.UTC(2026, 0, 1);
const MAX_PRIORITY = 2_097_151;

export function deadlinePriority(deadline: number): number {
  return Math.min(MAX_PRIORITY, Math.max(1, Math.floor((deadline - BASE_MS) / 60_000) + 1));
}

/** A job waiting with a later priority than its deadline's: deferred (libs/routing lateDeferrals). */
export function isDeferredPriority(priority: number, deadline: number): boolean {
  return priority > deadlinePriority(deadline);
}
