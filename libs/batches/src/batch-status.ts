import type { BatchStatus, ItemCounts } from '#libs/domain';

/** A batch's status follows from its item counts alone, so it can never disagree with them. */
export function batchStatus(counts: ItemCounts): BatchStatus {
  const { queued, running, completed, failed, cancelled } = counts;
  if (queued + running > 0) {
    return running > 0 || completed + failed + cancelled > 0 ? 'running' : 'queued';
  }
  if (completed === counts.total) return 'completed';
  if (completed === 0) return cancelled > 0 && failed === 0 ? 'cancelled' : 'failed';
  return 'partial';
}
