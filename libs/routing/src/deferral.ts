import { isCleared, type Sensitivity } from '#libs/domain';
import { EdfSequences } from './edf-schedule.js';
import type { ProviderView, RoutingState } from './routing-policy.js';

/**
 * Late local work that nothing can move yields to work that can still make its deadline.
 *
 * A local pool runs earliest-deadline-first, and among equal deadlines in arrival order. When more work is due
 * by a deadline than the pool can do by then and no cloud provider can take the overflow (every one cleared for
 * it is failing, or none is cleared), the whole tail of that work finishes late: EDF keeps running items that
 * will be late anyway ahead of ones that could still be on time. Moore and Hodgson's rule meets the most
 * deadlines on one machine, and its greedy form serves here: walk the queue in the order it runs, and at the
 * first item that will finish late, defer the longest item scheduled so far, that one included; repeat until
 * none is late. A deferred item runs as if due DEFER_MS after its deadline: after what is due before that, not
 * after all the work due tomorrow.
 *
 * Only items that cannot be moved are deferred (`stuck`): an item a cloud provider can still take is the
 * escalation watchdog's to move. In `npm run bench:routing`'s all-cloud-down, a burst batch of 174 items due in
 * 8.5 minutes while every cloud is down needs 6,698 sequence-seconds of the pool's 4,086: 88 met their deadline
 * in arrival order; deferring the longest lets the short ones through.
 */

/** How much later than its deadline a deferred item runs. */
export const DEFER_MS = 30 * 60_000;

export interface DeferralEntry<T> {
  ref: T;
  /** The item's own deadline. */
  deadline: number;
  /** Its work on the pool (workTokensOn the pool's context). */
  workTokens: number;
  /** Deferred already: it runs as if due `deferMs` after its deadline, and is not deferred again. */
  deferred: boolean;
  /** Nothing can move it: no cloud provider cleared for it has a closed circuit (or it is pinned to its model). */
  stuck: boolean;
}

/**
 * Whether a late local item can only wait: it stays on its model (pinned), or no cloud provider among `clouds` (those
 * whose circuit is not open) is cleared for it with its circuit closed. A half-open provider is failing its probes:
 * counting on it is what left a burst arriving during an outage late in the bench.
 */
export function cannotMove(sensitivity: Sensitivity, stays: boolean | undefined, clouds: RoutingState): boolean {
  return (
    stays === true ||
    !clouds.providers.some((p) => (p.circuit ?? 'closed') === 'closed' && isCleared(p.clearance, sensitivity))
  );
}

/** When an item runs on the pool's schedule: its deadline, or `deferMs` past it once deferred. */
export function effectiveDeadline(deadline: number, deferred: boolean, deferMs = DEFER_MS): number {
  return deferred ? deadline + deferMs : deadline;
}

/**
 * The waiting items to defer now. `waiting`: a local queue's waiting items in the order the pool runs them;
 * `view`: the pool (its sequences, speed, and running work, which keeps its sequences first).
 */
export function lateDeferrals<T>(
  view: ProviderView,
  waiting: readonly DeferralEntry<T>[],
  now: number,
  deferMs = DEFER_MS,
): T[] {
  const running = (view.queue ?? []).filter((q) => q.running || q.preemptible);
  const chosen = new Set<DeferralEntry<T>>();
  const due = (e: DeferralEntry<T>) => effectiveDeadline(e.deadline, e.deferred || chosen.has(e), deferMs);
  // Each round defers one item, so at most as many rounds as there are candidates.
  for (let round = 0; round < waiting.length; round++) {
    const order = waiting.map((e, i) => ({ e, i })).sort((a, b) => due(a.e) - due(b.e) || a.i - b.i);
    const sequences = new EdfSequences(view, now);
    for (const q of running) sequences.run(q);
    let longest: DeferralEntry<T> | undefined;
    let late = false;
    for (const { e } of order) {
      const finishAt = sequences.run({ deadline: due(e), workTokens: e.workTokens });
      if (e.deferred || chosen.has(e) || !e.stuck) continue;
      if (!longest || e.workTokens > longest.workTokens) longest = e;
      if (finishAt > e.deadline) {
        late = true;
        break;
      }
    }
    if (!late || !longest) break;
    chosen.add(longest);
  }
  return waiting.filter((e) => chosen.has(e)).map((e) => e.ref);
}
