import type { AuditRecorder } from '#libs/audit';
import { itemJobId, type QueueLayer } from '#libs/queue';
import type { BatchStore } from './batch-store.js';

/** What an erasure removed: the batch's items (records and results) and the queue jobs that held their text. */
export interface Erased {
  id: string;
  items: number;
  jobs: number;
}

/**
 * Erasure on request (a data subject's right to deletion): one finished batch and everything derived from it
 * goes now rather than at RESULT_TTL — its item jobs in every queue this process knows (they hold the item's
 * text, and a finished one its answer), then its records by the retention's own idempotent steps (items with
 * their results, event stream, estimates, backlog, hash, indexes). An `erasure` audit entry, naming the batch
 * and how many items went and never any text, is written first: if it cannot be, nothing is deleted. The
 * batch's earlier audit entries stay (they hold no text). A batch with items queued or running is refused:
 * cancel it first, so no worker writes a result back after the erasure.
 */
export class BatchErasure {
  constructor(
    private readonly store: Pick<BatchStore, 'get' | 'retention'>,
    private readonly queue: Pick<QueueLayer, 'purge'>,
    private readonly audit?: AuditRecorder,
  ) {}

  /** Null: no such batch. 'unfinished': items are still queued or running. */
  async erase(batchId: string, now = Date.now()): Promise<Erased | 'unfinished' | null> {
    const batch = await this.store.get(batchId);
    if (!batch) return null;
    if (batch.finishedAt === null) return 'unfinished';
    const total = batch.counts.total;
    await this.audit?.record([
      {
        kind: 'erasure',
        batchId,
        index: -1,
        target: 'local',
        provider: 'switchyard',
        sensitivity: batch.sensitivity,
        reason: `batch erased on request: ${total} items, their results and queue jobs`,
        at: new Date(now).toISOString(),
      },
    ]);
    // Jobs first: while the batch's hash exists, a rerun after a crash here knows its items and finds them again.
    const jobs = await this.queue.purge(Array.from({ length: total }, (_, i) => itemJobId(batchId, i)));
    const erased = await this.store.retention.erase(batchId);
    if (erased === 'unfinished') return erased;
    return { id: batchId, items: erased?.items ?? 0, jobs };
  }
}
