import type { BatchStatus } from '#libs/domain';
import { metrics } from '#libs/metrics';
import type { BatchStore } from './batch-store.js';

/** The statuses a batch finishes in. */
const FINISHED: readonly BatchStatus[] = ['completed', 'partial', 'failed', 'cancelled'];

/**
 * Measures every batch a transition in this process finishes: its status, how long it took and how close it
 * came to its deadline (switchyard_batch_*). Both apps finish batches — the worker by running the last item,
 * the API by cancelling the last queued ones — so both call this once. A batch whose record cannot be read is
 * left unmeasured and `onError` says so; nothing is retried (a metric is not worth a second read).
 */
export function measureBatchFinishes(
  store: Pick<BatchStore, 'onBatchFinished' | 'get'>,
  onError: (batchId: string, err: unknown) => void,
): void {
  metrics.batchStatusesExpected(FINISHED);
  store.onBatchFinished((batchId) => {
    store.get(batchId).then(
      (batch) => {
        if (!batch?.finishedAt) return;
        metrics.batchFinished(batch.status, {
          createdAt: Date.parse(batch.createdAt),
          finishedAt: Date.parse(batch.finishedAt),
          deadline: Date.parse(batch.deadline),
        });
      },
      (err: unknown) => onError(batchId, err),
    );
  });
}
