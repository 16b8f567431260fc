import { costOf } from '#libs/routing';
import { clearedFor, earliestCloudFinish, localRunMs, upClock, type Resources, type SimItem } from './resources.js';

/** What an idle system with perfect knowledge (true sizes, true speeds, outages) could do with one item. */
export interface ItemOptions {
  localCostUsd: number;
  /** Sequence-milliseconds the item occupies on the local pool. */
  localRunMs: number;
  /** An idle local sequence, started on arrival, finishes it by its deadline. */
  localMeetsDeadline: boolean;
  /** The cheapest cleared cloud provider that, idle, finishes it by its deadline (outages avoided); null: none. */
  cloudCostUsd: number | null;
  /** The cheapest cleared provider regardless of deadline (what a hopeless item costs at least). */
  cheapestClearedCostUsd: number;
  /** Some cleared provider, idle, could meet the deadline: the items deadlineHitRate is measured over. */
  feasible: boolean;
}

export function itemOptions(item: SimItem, resources: Resources): ItemOptions {
  const usage = { inputTokens: item.inputTokens, outputTokens: item.outputTokens };
  const localCostUsd = costOf(usage, resources.local.price);
  const runMs = localRunMs(item, resources.local);
  // Up time between arrival and deadline (a downtime pauses it: a relaxation, as the bound's).
  const up = upClock(resources.local);
  const localMeetsDeadline = up(item.deadline) - up(item.arrivalAt) >= runMs;
  let cloudCostUsd: number | null = null;
  let cheapestClearedCostUsd = localCostUsd;
  for (const cloud of resources.clouds) {
    if (!clearedFor(cloud.clearance, item.sensitivity)) continue;
    const cost = costOf(usage, cloud.price);
    cheapestClearedCostUsd = Math.min(cheapestClearedCostUsd, cost);
    if (
      earliestCloudFinish(item, cloud, item.arrivalAt) <= item.deadline &&
      (cloudCostUsd === null || cost < cloudCostUsd)
    )
      cloudCostUsd = cost;
  }
  return {
    localCostUsd,
    localRunMs: runMs,
    localMeetsDeadline,
    cloudCostUsd,
    cheapestClearedCostUsd,
    feasible: localMeetsDeadline || cloudCostUsd !== null,
  };
}
