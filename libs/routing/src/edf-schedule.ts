import type { ProviderView, QueuedWork } from './routing-policy.js';

/**
 * Estimates for a pool that runs its queue earliest-deadline-first on `concurrency` sequences: list
 * scheduling at the measured speed — running work first, each waiting item on the first sequence to
 * free up, in deadline order (first come first among equal deadlines). It is what the pool will do if
 * nothing due earlier arrives; unlike "all work ahead drains at the pool's total speed, then the item
 * runs alone", it does not charge a whole item-length of slack per sequence to the last items of a batch.
 */

/** A copy in the order an EDF pool runs it: running work first, then by deadline (stable among equals). */
export function edfOrder(queue: readonly QueuedWork[]): QueuedWork[] {
  const running = queue.filter((q) => q.running);
  const waiting = queue.filter((q) => !q.running);
  for (let i = 1; i < waiting.length; i++) {
    if (waiting[i - 1].deadline > waiting[i].deadline) {
      waiting.sort((a, b) => a.deadline - b.deadline);
      break;
    }
  }
  return [...running, ...waiting];
}

/** When the provider's sequences can start work: now, or when its coming capacity is expected to be ready. */
export function readyFrom(view: Pick<ProviderView, 'coming'>, now: number): number {
  return Math.max(now, view.coming?.readyAt ?? now);
}

export interface EdfPlacement {
  /** When the new item would finish. */
  finishAt: number;
  /** Queued work that finishes in time (with margin) now, and would not with the new item ahead of it. */
  displaced: QueuedWork[];
}

/**
 * Where a new item due at `deadline`, of `workTokens`, would finish on the pool, and which queued work
 * it would push past its deadline. `ordered` must be in edfOrder; `margin` as RoutingPolicy's.
 *
 * Queued work behind the new item that is late (or made late) and `movable` is what the escalation
 * watchdog moves to the cloud: it walks the queue in this order and takes such work out of it. So it is
 * left out of the schedule from there on, in both cases, and frees its sequence for what follows.
 * Without that, a queue already overfull with work bound for the cloud anyway would read as one where
 * every new item pushes the last item of each sequence late: up to `concurrency` items displaced for
 * one item's work, and local capacity refused to work that saves most there.
 */
export function edfPlacement(
  view: ProviderView,
  ordered: readonly QueuedWork[],
  now: number,
  item: QueuedWork,
  margin: number,
  movable: (q: QueuedWork) => boolean = () => false,
): EdfPlacement {
  const without = new EdfSequences(view, now);
  const withItem = new EdfSequences(view, now);
  const onTime = (finishAt: number, due: number) => now + (finishAt - now) * (1 + margin) <= due;
  let finishAt: number | undefined;
  const displaced: QueuedWork[] = [];
  for (const q of ordered) {
    if (finishAt === undefined && !q.running && q.deadline > item.deadline) finishAt = withItem.run(item);
    if (finishAt === undefined) {
      // Ahead of the new item: the same in both schedules.
      without.run(q);
      withItem.run(q);
      continue;
    }
    const lateWithout = !onTime(without.finishIf(q), q.deadline);
    const lateWith = !onTime(withItem.finishIf(q), q.deadline);
    if (lateWithout && movable(q)) continue; // moving to the cloud with or without the new item
    without.run(q);
    if (!lateWithout && lateWith) {
      displaced.push(q);
      if (movable(q)) continue;
    }
    withItem.run(q);
  }
  return { finishAt: finishAt ?? withItem.run(item), displaced };
}

/**
 * The times each sequence of the pool frees up (a binary min-heap), for walking a queue in EDF order:
 * the escalation watchdog uses it to find the waiting items that will now miss their deadlines.
 */
export class EdfSequences {
  private readonly heap: Float64Array;
  private readonly msPerToken: number;
  private readonly latencyMs: number;

  constructor(view: ProviderView, now: number) {
    // Capacity that is coming starts when it is expected ready (issue 19): nothing runs on it before.
    this.heap = new Float64Array(Math.max(1, view.concurrency)).fill(readyFrom(view, now));
    this.msPerToken = 1000 / view.tokensPerSec;
    this.latencyMs = view.latencyMs;
  }

  /** When the work would finish on the first sequence to free up, without putting it there. */
  finishIf(work: QueuedWork): number {
    return this.heap[0] + (work.running ? 0 : this.latencyMs) + work.workTokens * this.msPerToken;
  }

  /** Puts the work on the first sequence to free up; returns when it finishes there. */
  run(work: QueuedWork): number {
    const h = this.heap;
    const finishAt = this.finishIf(work);
    h[0] = finishAt;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l] < h[m]) m = l;
      if (r < h.length && h[r] < h[m]) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
    return finishAt;
  }
}
