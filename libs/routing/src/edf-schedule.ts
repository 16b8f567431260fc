import type { ProviderView, QueuedWork } from './routing-policy.js';

/**
 * Estimates for a pool that runs its queue earliest-deadline-first on `concurrency` sequences: list
 * scheduling at the measured speed — running work first, each waiting item on the first sequence to
 * free up, in deadline order (first come first among equal deadlines). It is what the pool will do if
 * nothing due earlier arrives; unlike "all work ahead drains at the pool's total speed, then the item
 * runs alone", it does not charge a whole item-length of slack per sequence to the last items of a batch.
 */

/**
 * The queue in the order an EDF pool runs it: running work first, then by deadline (stable among equals).
 * A copy, except for the items of an EdfQueue, which are kept in that order already and returned as they are.
 */
export function edfOrder(queue: readonly QueuedWork[]): readonly QueuedWork[] {
  if (planned.has(queue)) return queue;
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
  // Ahead of the new item (running work, and waiting work due no later) runs the same in both schedules.
  const queue = planned.get(ordered);
  let at: number;
  let without: EdfSequences;
  if (queue) {
    at = queue.insertionPoint(item.deadline);
    without = queue.sequencesAt(at, view, now);
  } else {
    at = ordered.findIndex((q) => !q.running && q.deadline > item.deadline);
    if (at < 0) at = ordered.length;
    without = new EdfSequences(view, now);
    for (let i = 0; i < at; i++) without.run(ordered[i]);
  }
  const withItem = without.clone();
  const finishAt = withItem.run(item);
  const onTime = (finish: number, due: number) => now + (finish - now) * (1 + margin) <= due;
  const displaced: QueuedWork[] = [];
  for (let i = at; i < ordered.length; i++) {
    const q = ordered[i];
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
  return { finishAt, displaced };
}

/** The EdfQueue whose items an array is (edfOrder and edfPlacement recognise them). */
const planned = new WeakMap<readonly QueuedWork[], EdfQueue>();

/**
 * A pool's queue in EDF order that a batch plan grows one placed item at a time (RoutingPolicy.plan), so
 * that placing the next item does not walk the whole queue again (issue 17 §2: a 100,000-item batch
 * planned item by item over its own growing queue was quadratic, more than 10 minutes).
 *
 * It keeps the schedule of the queue's first `pos` items (a checkpoint): an item due no earlier than the
 * last one placed goes in at or after `pos`, so its placement runs on from there, and only the work due
 * after it is walked. One batch has one deadline, so after its first item each placement advances the
 * checkpoint by the item placed before it: O(log n + concurrency + work due later) per item. Work inserted
 * ahead of the checkpoint (an earlier deadline) drops it, and the next placement walks from the start. The
 * checkpoint runs the same work in the same order from the same start as a walk from the start would, so
 * every placement is exactly the one edfPlacement makes over a plain copy of the queue.
 *
 * `items` is the queue itself, for ProviderView.queue: change it only through insert().
 */
export class EdfQueue {
  readonly items: QueuedWork[];
  private checkpoint: { pos: number; sequences: EdfSequences; key: string } | null = null;

  constructor(queue: readonly QueuedWork[]) {
    this.items = [...edfOrder(queue)];
    planned.set(this.items, this);
  }

  /** Where work due at `deadline` goes: after running work and every waiting entry due no later (FIFO among equals). */
  insertionPoint(deadline: number): number {
    const q = this.items;
    let lo = 0;
    let hi = q.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (q[mid].running || q[mid].deadline <= deadline) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  insert(work: QueuedWork): void {
    const at = this.insertionPoint(work.deadline);
    this.items.splice(at, 0, work);
    if (this.checkpoint && at < this.checkpoint.pos) this.checkpoint = null;
  }

  /** The pool's sequences once the first `at` items have run (a copy, the caller's to run on). */
  sequencesAt(at: number, view: ProviderView, now: number): EdfSequences {
    const key = `${readyFrom(view, now)} ${view.concurrency} ${view.tokensPerSec} ${view.latencyMs}`;
    let c = this.checkpoint;
    if (!c || c.key !== key || c.pos > at)
      c = this.checkpoint = { pos: 0, sequences: new EdfSequences(view, now), key };
    for (; c.pos < at; c.pos++) c.sequences.run(this.items[c.pos]);
    return c.sequences.clone();
  }
}

/**
 * The times each sequence of the pool frees up (a binary min-heap), for walking a queue in EDF order:
 * the escalation watchdog uses it to find the waiting items that will now miss their deadlines.
 */
export class EdfSequences {
  // Not readonly: clone() sets them on its copy.
  private heap: Float64Array;
  private msPerToken: number;
  private latencyMs: number;

  constructor(view: ProviderView, now: number) {
    // Capacity that is coming starts when it is expected ready (issue 19): nothing runs on it before.
    this.heap = new Float64Array(Math.max(1, view.concurrency)).fill(readyFrom(view, now));
    this.msPerToken = 1000 / view.tokensPerSec;
    this.latencyMs = view.latencyMs;
  }

  /** Sequences in the same state, to run on without changing these. */
  clone(): EdfSequences {
    const copy = Object.create(EdfSequences.prototype) as EdfSequences;
    copy.heap = this.heap.slice();
    copy.msPerToken = this.msPerToken;
    copy.latencyMs = this.latencyMs;
    return copy;
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
