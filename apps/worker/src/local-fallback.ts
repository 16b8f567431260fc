import type { BatchStore } from '#libs/batches/src/batch-store.js';
import type { WorkItem } from '#libs/batches/src/batch-types.js';
import { JobName, itemJobId, queueRefFor, type JobQueue } from '#libs/queue/src/index.js';

/**
 * When a cloud provider cannot finish an item (down past its retries, or refusing it), the item still
 * can finish locally: the local model is cleared for every sensitivity. Reroute first, then enqueue —
 * if the worker dies in between, the cloud job is recovered as stalled and finds the item queued again.
 */
export class LocalFallback {
  constructor(
    private readonly store: BatchStore,
    private readonly jobs: JobQueue,
    private readonly local: { provider: string; model: string },
  ) {}

  async reroute(item: WorkItem, why: string): Promise<boolean> {
    // An item pinned to a model falls back to that model; others to the first configured one.
    const model = item.model ?? this.local.provider;
    const route = { target: 'local' as const, provider: model, model, reason: `fallback: ${why}`, at: new Date().toISOString() };
    if (!(await this.store.reroute(item.batchId, item.index, route, why))) return false;
    await this.jobs.enqueue(queueRefFor('local', model), [
      { name: JobName.RunItem, data: item, jobId: `${itemJobId(item.batchId, item.index)}.fallback` },
    ]);
    return true;
  }
}
