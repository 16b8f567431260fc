import type { QueueTuning } from '#libs/config';
import { QueueKind } from './queue-names.js';

export interface QueueSettings {
  /** LLM calls run for minutes; a lock shorter than a call would let a healthy job be taken as stalled. */
  lockDurationMs: number;
  stalledIntervalMs: number;
  /** How often a job may be recovered from a crashed worker before it fails. */
  maxStalledCount: number;
  attempts: number;
  backoff: { type: 'exponential'; delay: number };
  /** Results live in the batch store; finished jobs are kept only for Bull Board and debugging. */
  removeOnComplete: { age: number; count: number };
  removeOnFail: { age: number; count: number };
}

const DAY_S = 86_400;

/** Seconds a finished job is kept: `seconds`, but never past RESULT_TTL, since an item job holds the item's text. */
const keptAtMost = (seconds: number, t: QueueTuning): number =>
  t.resultTtlMs ? Math.max(1, Math.min(seconds, Math.floor(t.resultTtlMs / 1000))) : seconds;

/** Inference jobs: the tuned lock (LLM calls run long) and attempts; results live in the batch store. */
const inference = (t: QueueTuning): QueueSettings => ({
  lockDurationMs: t.lockDurationMs,
  stalledIntervalMs: t.stalledIntervalMs,
  maxStalledCount: t.maxStalledCount,
  attempts: t.attempts,
  backoff: { type: 'exponential', delay: t.backoffMs },
  removeOnComplete: { age: keptAtMost(DAY_S, t), count: 10_000 },
  removeOnFail: { age: keptAtMost(7 * DAY_S, t), count: 10_000 },
});

/** One reviewable table of how each kind of queue behaves. Record<QueueKind, …> makes it exhaustive. */
export const QUEUE_SETTINGS: Record<QueueKind, (tuning: QueueTuning) => QueueSettings> = {
  [QueueKind.LocalInference]: inference,
  // Cloud calls are retried on 429/5xx by the provider client first; BullMQ's attempts cover what
  // outlasts those retries (an outage of minutes), then the item is rerouted.
  [QueueKind.CloudInference]: inference,
  [QueueKind.Maintenance]: (t) => ({
    // Sweeps and schedule firings are quick; a failed firing is retried (it is idempotent per slot).
    ...inference(t),
    attempts: 3,
    removeOnComplete: { age: 3600, count: 100 },
    removeOnFail: { age: DAY_S, count: 1000 },
  }),
  [QueueKind.Callbacks]: (t) => ({
    ...inference(t),
    attempts: t.callbacks?.attempts ?? 15,
    backoff: { type: 'exponential', delay: t.callbacks?.backoffMs ?? 2000 },
    // Kept a week: while a delivered event's job exists, enqueueing the event again adds nothing, which is
    // what makes one delivery per event id hold when the finish trigger and the sweep both enqueue it.
    removeOnComplete: { age: 7 * DAY_S, count: 100_000 },
    removeOnFail: { age: 7 * DAY_S, count: 100_000 },
  }),
};
