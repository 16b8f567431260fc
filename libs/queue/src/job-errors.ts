import { UnrecoverableError } from 'bullmq';

/**
 * A processor's error that must not be retried (bad input, clearance refusal, item cancelled). It extends
 * BullMQ's UnrecoverableError because that is how BullMQ is told; InMemoryJobQueue honours it the same way.
 */
export class PermanentJobError extends UnrecoverableError {}

/** Thrown by a handler when its provider's quota is used up: the whole queue pauses for `waitMs`, the job is not charged an attempt. */
export class RateLimited extends Error {
  constructor(readonly waitMs: number) {
    super(`rate limited for ${waitMs}ms`);
    this.name = 'RateLimited';
  }
}

/**
 * Thrown by a handler that stopped because this worker lost its job (JobContext.lost): BullMQ is not asked to move
 * the job, which may already be another worker's.
 */
export class LockLost extends Error {
  constructor() {
    super("this worker lost the job's lock");
    this.name = 'LockLost';
  }
}

/**
 * Thrown by a handler whose job gave its place to one due sooner (local preemption, libs/routing): the job
 * waits again with its own priority, at once and not charged an attempt.
 */
export class Preempted extends Error {
  /** `data`: the job's payload from now on (what the stopped run learned for the next), where it changes. */
  constructor(readonly data?: unknown) {
    super('preempted by an item due sooner');
    this.name = 'Preempted';
  }
}
