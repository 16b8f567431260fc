import type { BatchStore } from '#libs/batches';

/**
 * What running an item asks of the batch store: its guarded transitions and reroute, the task and the
 * item's record, the batch budget and its cancel flag. The worker's item code depends on this much, so its
 * unit specs fake the store in memory instead of Redis (and a change elsewhere in BatchStore is not theirs).
 */
export type ItemStore = Pick<
  BatchStore,
  | 'transitionOn'
  | 'transition'
  | 'reroute'
  | 'task'
  | 'item'
  | 'reserveBudget'
  | 'releaseBudget'
  | 'isCancelRequested'
  | 'chargeLate'
  | 'markUsageEstimated'
>;
