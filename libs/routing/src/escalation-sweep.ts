import { EdfSequences } from './edf-schedule.js';
import type { ProviderView, RoutableItem, RouteDecision, RoutingPolicy, RoutingState } from './routing-policy.js';

/** One waiting item of a local queue, as the escalation watchdog sees it. */
export interface SweepEntry<T> {
  /** The caller's handle on it (a job, a simulated run). */
  ref: T;
  routable: RoutableItem;
  /** Its work on the pool (workTokensOn the pool's context). */
  workTokens: number;
  /** Never moved by the sweep (an item pinned to its model), but placed on the pool like the rest. */
  stays?: boolean;
}

export interface SweepMove<T> {
  ref: T;
  decision: RouteDecision;
  /** late: it would miss its deadline on the pool; down: no pool of its model for longer than the grace. */
  why: 'late' | 'down';
  /** When it would finish on the pool. */
  localFinishAt: number;
}

/**
 * One pass of the escalation watchdog over a local queue. Production's EscalationWatchdog (apps/worker) and
 * bench/routing's simulator both run this, so the simulated watchdog is the running one by construction.
 *
 * `waiting` is the queue's waiting items in the order the pool runs them (earliest deadline first). Each is
 * placed on the pool's sequences as they free up: running work first, and running work the pool would preempt
 * in its deadline's place among the waiting items (the same EDF schedule the policy estimates with). One that
 * will now miss its deadline moves to the cloud provider RoutingPolicy.escalation picks among `clouds`, once
 * waiting longer could leave none on time; with no pool of the model past its grace (`down`), every item a
 * cloud provider can take moves now. What moves is left out of the schedule for the items after it.
 *
 * It yields each move as it decides it, and the caller answers `next(false)` when the move could not be made (a
 * worker took the item meanwhile): that item then keeps its place on the pool, as it does in fact. Iterated
 * with for-of or spread, every move counts as made.
 */
export function* escalationSweep<T>(
  policy: Pick<RoutingPolicy, 'escalation'>,
  view: ProviderView,
  clouds: RoutingState,
  waiting: Iterable<SweepEntry<T>>,
  down: boolean,
): Generator<SweepMove<T>, void, boolean | undefined> {
  const queue = view.queue ?? [];
  const sequences = new EdfSequences(view, clouds.now);
  for (const q of queue) if (q.running) sequences.run(q);
  const preemptible = queue.filter((q) => q.preemptible).sort((a, b) => a.deadline - b.deadline);
  let next = 0;
  for (const entry of waiting) {
    const work = { deadline: entry.routable.deadline, workTokens: entry.workTokens };
    for (; next < preemptible.length && preemptible[next].deadline <= work.deadline; next++)
      sequences.run(preemptible[next]);
    const finishAt = sequences.finishIf(work);
    if (!entry.stays && (down || finishAt > work.deadline)) {
      const decision = policy.escalation(entry.routable, clouds, down ? 0 : undefined);
      if (decision) {
        const made = yield { ref: entry.ref, decision, why: down ? 'down' : 'late', localFinishAt: finishAt };
        if (made !== false) continue;
      }
    }
    sequences.run(work);
  }
}
