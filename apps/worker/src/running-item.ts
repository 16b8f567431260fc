import type { ItemSpent } from '#libs/batches';
import type { CallTally } from '#libs/jobs';
import type { JobContext, JobName } from '#libs/queue';
import { costOf } from '#libs/routing';
import type { RunAnswer } from './answered-calls.js';
import type { BudgetHold } from './budget-hold.js';
import type { PendingWrites } from './pending-writes.js';
import type { ProcessorTarget } from './processor-target.js';

/** One run of one item on one provider, as the pieces of the item code share it. */
export interface RunningItem {
  job: JobContext<JobName.RunItem>;
  on: ProcessorTarget;
  /** Every call's usage so far: the item is charged for all of them. */
  tally: CallTally;
  /**
   * The cost of its cloud calls so far, still held in the batch's budget until the item records it, so an
   * item of many calls cannot spend past the budget between its first call and its last.
   */
  held: BudgetHold;
  /** What its calls taught about the provider, written while it goes on; settled before the job ends. */
  feedback: PendingWrites;
  /**
   * Aborted when its pool takes its sequence for an item due sooner (preemption), or stops (STOPPING), or its worker
   * lost the job (LOCK_LOST).
   */
  preempt?: AbortSignal;
  /** Its calls answered so far, in order: what a preemption keeps so the rerun does not send them again. */
  answers: RunAnswer[];
}

/** The provider's name as a route's `from`. */
export function fromOf(run: RunningItem): { target: RunningItem['on']['target']; provider: string } {
  return { target: run.on.target, provider: run.on.provider.name };
}

/** What a long item's calls so far used on this provider, when it leaves it midway (none before its first call). */
export function spentOf(run: RunningItem): ItemSpent | undefined {
  const { usage, calls } = run.tally;
  return calls > 0 ? { ...usage, costUsd: costOf(usage, run.on.price) } : undefined;
}

/** Why a run was stopped when its pool stops: it goes back to its queue, and any worker of the provider runs it. */
export const STOPPING = 'its worker is stopping';

/**
 * Why a run was stopped when its worker lost the job's lock (JobContext.lost): another worker may be running the
 * item already, so this run records nothing and leaves the job alone (ItemEndings.abandoned).
 */
export const LOCK_LOST = "its worker lost the job's lock";

/** Whether `reason` (an AbortSignal's) is one of the stops above. */
export function stoppedFor(reason: unknown, why: typeof STOPPING | typeof LOCK_LOST): boolean {
  return reason instanceof Error && reason.message === why;
}
