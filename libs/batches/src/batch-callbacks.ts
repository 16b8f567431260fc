import type { RedisClient } from '#libs/redis';
import { CALLBACKS_QUEUE, JobName, type JobSpec, type QueueLayer } from '#libs/queue';
import { callbackEventId, parseCallbackEventId } from '#libs/callbacks';
import type { CallbackEvent } from '#libs/domain';
import { BatchKeys } from './batch-keys.js';
import type { BatchStore } from './batch-store.js';

/** Jobs added per call while enqueueing a big batch's item events. */
const CHUNK = 1000;

/** Failed delivery ids read per call while looking for a batch's events to send again. */
const REDELIVER_PAGE = 1000;

/** Batches whose callback events are remembered in this process; the memory is cleared when it grows past this. */
const EVENTS_KEPT = 10_000;

/**
 * When a batch's callback events are enqueued (issue 15 §5). One delivery job per event, its id the event
 * id, so enqueueing an event twice adds nothing while its job is kept (a week): the transition hints
 * (item and batch finished, in the process that made the transition) enqueue at once, and the sweep
 * enqueues the events of every finished batch still in the pending set — each item's and the batch's —
 * so a hint a crash ate is repaired, and the batch leaves the set only after all are enqueued.
 */
export class BatchCallbacks {
  private readonly keys: BatchKeys;
  /**
   * Each batch's callback events as read once: they are written with the batch and never change, so every
   * item that finishes need not read them again (issue 17: one round trip per item). Keyed by batch id.
   */
  private readonly eventsOf = new Map<string, CallbackEvent[] | null>();

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly store: BatchStore,
    private readonly jobs: QueueLayer,
  ) {
    this.keys = new BatchKeys(prefix);
  }

  watch(onError: (batchId: string, err: unknown) => void): void {
    this.store.transitions.onItemFinished((batchId, index) => {
      this.enqueueItem(batchId, index).catch((err) => onError(batchId, err));
    });
    this.store.onBatchFinished((batchId) => {
      this.enqueueFinished(batchId).catch((err) => onError(batchId, err));
    });
  }

  /** The batch's callback events (null: it has no callback). */
  async events(batchId: string): Promise<CallbackEvent[] | null> {
    if (this.eventsOf.has(batchId)) return this.eventsOf.get(batchId) ?? null;
    const raw = await this.redis.hget(this.keys.batch(batchId), 'callback');
    const events = raw ? (JSON.parse(raw) as { events: CallbackEvent[] }).events : null;
    // Asked once an item of the batch finished, so the batch exists and its callback is as written.
    if (this.eventsOf.size >= EVENTS_KEPT) this.eventsOf.clear();
    this.eventsOf.set(batchId, events);
    return events;
  }

  /** Enqueues item.finished for one item, if the batch's callback asked for it. */
  async enqueueItem(batchId: string, index: number): Promise<boolean> {
    if (!(await this.events(batchId))?.includes('item.finished')) return false;
    await this.jobs.enqueue(CALLBACKS_QUEUE, [itemJob(batchId, index)]);
    return true;
  }

  /**
   * Enqueues every event of a finished batch whose callback is pending: each item's (if asked; items
   * already enqueued add nothing), then batch.finished; then takes it off the pending set. A no-op otherwise.
   */
  async enqueueFinished(batchId: string): Promise<boolean> {
    if (!(await this.redis.sismember(this.keys.pendingCallbacks(), batchId))) return false;
    const [finishedAt, total] = await this.redis.hmget(this.keys.batch(batchId), 'finishedAt', 'total');
    if (!finishedAt) return false;
    const events = (await this.events(batchId)) ?? [];
    if (events.includes('item.finished')) {
      for (let from = 0; from < Number(total); from += CHUNK) {
        const indexes = Array.from({ length: Math.min(CHUNK, Number(total) - from) }, (_, i) => from + i);
        await this.jobs.enqueue(
          CALLBACKS_QUEUE,
          indexes.map((i) => itemJob(batchId, i)),
        );
      }
    }
    if (events.includes('batch.finished')) {
      await this.jobs.enqueue(CALLBACKS_QUEUE, [batchFinishedJob(batchId)]);
    }
    await this.redis.srem(this.keys.pendingCallbacks(), batchId);
    return true;
  }

  /**
   * Sends again the batch's events whose delivery gave up (every CALLBACK_ATTEMPTS attempt answered with an
   * error): each failed job goes back to waiting with its attempts reset, so a receiver that was down longer
   * than the retries last gets them once it is back. Delivered and pending events are left as they are (no
   * duplicate). Returns how many went back. The failed set is read a page at a time, then each is retried.
   */
  async redeliver(batchId: string): Promise<number> {
    const failed: JobSpec<JobName.DeliverCallback>[] = [];
    for (let start = 0; ; start += REDELIVER_PAGE) {
      const ids = await this.jobs.failedIds(CALLBACKS_QUEUE, start, REDELIVER_PAGE);
      for (const id of ids) {
        const event = parseCallbackEventId(id);
        if (event?.batchId !== batchId) continue;
        failed.push(event.event === 'batch.finished' ? batchFinishedJob(batchId) : itemJob(batchId, event.index));
      }
      if (ids.length < REDELIVER_PAGE) break;
    }
    let redelivered = 0;
    for (const job of failed) {
      if ((await this.jobs.requeue(CALLBACKS_QUEUE, job)) === 'retried') redelivered += 1;
    }
    return redelivered;
  }

  /** The sweep: enqueues the events of every finished batch whose callback is pending. Returns how many batches. */
  async enqueuePending(): Promise<number> {
    let enqueued = 0;
    for (const batchId of await this.redis.smembers(this.keys.pendingCallbacks())) {
      if (await this.enqueueFinished(batchId)) enqueued += 1;
    }
    return enqueued;
  }
}

/** The delivery of a batch's batch.finished: its id the event id, so enqueueing it twice adds one job. */
export function batchFinishedJob(batchId: string): JobSpec<JobName.DeliverCallback> {
  return {
    name: JobName.DeliverCallback,
    data: { batchId, event: 'batch.finished' },
    jobId: callbackEventId(batchId, 'batch.finished'),
  };
}

function itemJob(batchId: string, index: number): JobSpec<JobName.DeliverCallback> {
  return {
    name: JobName.DeliverCallback,
    data: { batchId, event: 'item.finished', index },
    jobId: callbackEventId(batchId, 'item.finished', index),
  };
}
