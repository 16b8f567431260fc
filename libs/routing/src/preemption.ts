/**
 * Preemption on a local pool: an item due soon takes a sequence from one due much later.
 *
 * A pool runs its queue earliest-deadline-first, but only among waiting items: once its sequences are busy,
 * an urgent batch waits for running work due tomorrow to finish, and routing, seeing that wait, sends the
 * urgent batch to the cloud at the cloud's price. Serving engines preempt instead (vLLM swaps or recomputes a
 * running sequence when a more urgent one needs its room). Here a running item whose deadline is at least
 * `slackMs` away may be stopped for a waiting item due before it: its job goes back to the queue with its
 * deadline's priority and runs again from the start later, which its slack absorbs. Of several such items, the
 * one that started last is stopped: the least work is lost.
 *
 * Plain arithmetic, shared by the worker (which stops the item), the provider directory (whose routing view
 * counts such items as waiting work, not as running) and the routing simulator.
 */

/** LOCAL_PREEMPT_SLACK_MS's default: running work due at least 30 minutes from now may give way. */
export const DEFAULT_PREEMPT_SLACK_MS = 30 * 60_000;

export interface RunningLocalItem {
  deadline: number;
  /** When this run of it started (ms). */
  startedAt: number;
}

/** Whether running work due at `deadline` may still give its sequence away at `now` (slack null: preemption off). */
export function preemptible(deadline: number, now: number, slackMs: number | null): boolean {
  return slackMs !== null && deadline - now >= slackMs;
}

/**
 * The running item to stop so that `next` (the waiting item the pool would run first) can run now, or null
 * when none may give way: only work due after `next`, and at least `slackMs` from now; of those, the one that
 * started last (least lost), then the one due last.
 */
export function preemptionVictim<T extends RunningLocalItem>(
  running: Iterable<T>,
  next: { deadline: number },
  now: number,
  slackMs: number | null,
): T | null {
  let victim: T | null = null;
  for (const r of running) {
    if (r.deadline <= next.deadline || !preemptible(r.deadline, now, slackMs)) continue;
    if (!victim || r.startedAt > victim.startedAt || (r.startedAt === victim.startedAt && r.deadline > victim.deadline))
      victim = r;
  }
  return victim;
}
