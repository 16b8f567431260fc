import { Logger } from '@nestjs/common';
import type { AuditRecorder } from '#libs/audit';
import type { BatchCallbacks, BatchStore } from '#libs/batches';
import {
  CallbackRefused,
  batchFinishedBody,
  callbackEventId,
  itemFinishedBody,
  type CallbackBody,
  type CallbackSecrets,
  type CallbackSender,
} from '#libs/callbacks';
import {
  CALLBACKS_QUEUE,
  JobName,
  PermanentJobError,
  type ConsumerHandle,
  type JobContext,
  type QueueLayer,
} from '#libs/queue';

/** How often the sweep looks for finished batches whose callback events were not enqueued (a crash ate the hint). */
const SWEEP_INTERVAL_MS = 30_000;
/** Deliveries in flight per worker: each is one short HTTP request. */
const CONCURRENCY = 8;

export interface CallbackDelivererDeps {
  jobs: QueueLayer;
  store: BatchStore;
  callbacks: BatchCallbacks;
  secrets: CallbackSecrets;
  sender: Pick<CallbackSender, 'send'>;
  audit: AuditRecorder;
}

export type DeliveryResult = { delivered: number } | { skipped: 'no-callback' | 'no-item' };

/**
 * Delivers callback events, one job per event id (issue 15 §5): the body is built from the batch's record
 * when the job runs (ids, counts, cost, status; never item text), signed with the tenant's secret, POSTed,
 * and each attempt recorded in the audit trail. Anything but a 2xx throws, so BullMQ retries it with
 * exponential backoff (CALLBACK_ATTEMPTS, CALLBACK_BACKOFF_MS); an address the guard refuses fails at once.
 */
export class CallbackDeliverer {
  private readonly log = new Logger('callbacks');
  private consumer?: ConsumerHandle;

  constructor(private readonly deps: CallbackDelivererDeps) {}

  async start(): Promise<void> {
    const { jobs, callbacks } = this.deps;
    await jobs.schedule(CALLBACKS_QUEUE, 'callback-sweep', { every: SWEEP_INTERVAL_MS }, JobName.CallbackSweep, {});
    this.consumer = jobs.consume<JobName.DeliverCallback | JobName.CallbackSweep>(
      CALLBACKS_QUEUE,
      async (job) => {
        if (job.name === JobName.CallbackSweep) return { enqueued: await callbacks.enqueuePending() };
        return this.deliver(job as JobContext<JobName.DeliverCallback>);
      },
      { concurrency: CONCURRENCY },
    );
    // Batches that finished while no worker ran have their events enqueued now.
    await callbacks.enqueuePending();
  }

  async stop(timeoutMs = 5000): Promise<void> {
    await this.consumer?.close(timeoutMs);
  }

  async deliver(job: Pick<JobContext<JobName.DeliverCallback>, 'data' | 'attempt'>): Promise<DeliveryResult> {
    const { batchId, event, index } = job.data;
    const { store, secrets, sender, audit } = this.deps;
    const batch = await store.get(batchId);
    if (!batch?.callback) return { skipped: 'no-callback' };
    let body: CallbackBody;
    if (event === 'batch.finished') body = batchFinishedBody(batch);
    else {
      const item = await store.item(batchId, index ?? -1);
      if (!item) return { skipped: 'no-item' };
      body = itemFinishedBody(batchId, item);
    }
    const eventId = callbackEventId(batchId, event, index);
    const url = batch.callback.url;
    const entry = {
      kind: 'callback' as const,
      batchId,
      index: index ?? -1,
      target: 'cloud' as const,
      provider: `callback:${new URL(url).host}`,
      sensitivity: batch.sensitivity,
      attempt: job.attempt,
      eventId,
    };
    const secret = await secrets.get(batch.tenant);
    let status: number;
    try {
      ({ status } = await sender.send({
        url,
        eventId,
        event,
        body: JSON.stringify(body),
        secret,
        attempt: job.attempt,
      }));
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      await audit.record([{ ...entry, reason: `not delivered: ${reason}`, at: new Date().toISOString() }]);
      this.log.warn({ msg: 'callback not delivered', batchId, eventId, attempt: job.attempt, reason });
      throw err instanceof CallbackRefused ? new PermanentJobError(reason) : err;
    }
    const ok = status >= 200 && status < 300;
    await audit.record([
      {
        ...entry,
        httpStatus: status,
        reason: ok ? 'delivered' : `receiver answered ${status}`,
        at: new Date().toISOString(),
      },
    ]);
    if (!ok) {
      this.log.warn({ msg: 'callback answered with an error', batchId, eventId, attempt: job.attempt, status });
      throw new Error(`callback ${eventId}: the receiver answered ${status}`);
    }
    return { delivered: status };
  }
}
