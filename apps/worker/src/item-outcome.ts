import type { WorkItem } from '#libs/domain';
import { LockLost, Preempted, RateLimited } from '#libs/queue';

/**
 * How one run of an item ended: the one shape every path of the worker's item code returns (Immich's
 * JobStatus), told apart by `kind` alone. Each is already recorded in the store when it is returned.
 */
export type ItemOutcome =
  /** The item's answer was recorded. */
  | { kind: 'completed' }
  /** Nothing for this job to do: the item was cancelled or finished before, moved elsewhere, or its result was discarded. */
  | { kind: 'skipped' }
  /** The item moved to another provider, whose queue now holds its job. */
  | { kind: 'rerouted'; to: string }
  /** The item's request waits in a provider batch (the batch tier): ProviderBatchRunner finishes it. */
  | { kind: 'handed-off' }
  /** The batch was cancelled while the item ran. */
  | { kind: 'cancelled' }
  /** The item is recorded failed; the job fails with `error` (a PermanentJobError, or the last attempt's error). */
  | { kind: 'failed'; error: unknown }
  /** This attempt failed and the item is queued again; the job throws `error` so BullMQ retries it. */
  | { kind: 'retrying'; error: unknown }
  /** The provider's token quota is used up before the item's first call: it is queued again and its queue waits `waitMs`. */
  | { kind: 'rate-limited'; waitMs: number }
  /**
   * Its local run gave its sequence to an item due sooner: it is queued again and its job waits with its priority,
   * with `data` (the answers its calls got, for the rerun) where it had any.
   */
  | { kind: 'preempted'; data?: WorkItem }
  /**
   * Its worker lost the job (its lock could not be renewed): nothing is recorded and the job is left where BullMQ's
   * stalled check puts it, since another worker may be running the item already.
   */
  | { kind: 'abandoned' };

/**
 * What the job hands back to BullMQ: the outcome's name as the job's return value, or the error that makes
 * BullMQ fail, retry or rate-limit it. Errors are rethrown, never turned into "success".
 */
export function jobResult(outcome: ItemOutcome): {
  outcome: 'completed' | 'skipped' | 'rerouted' | 'cancelled' | 'handed-off';
} {
  switch (outcome.kind) {
    case 'handed-off':
    case 'completed':
    case 'skipped':
    case 'rerouted':
    case 'cancelled':
      return { outcome: outcome.kind };
    case 'failed':
    case 'retrying':
      throw outcome.error;
    case 'rate-limited':
      throw new RateLimited(outcome.waitMs);
    case 'preempted':
      throw new Preempted(outcome.data);
    case 'abandoned':
      throw new LockLost();
  }
}
