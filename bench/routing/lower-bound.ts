import { itemOptions } from './feasibility.js';
import { upClock, type Resources, type SimItem } from './resources.js';

export interface CostBound {
  costUsd: number;
  /** Items some cleared provider could finish in time when idle. */
  feasibleItems: number;
  /**
   * Work that can only run locally already exceeds local capacity in some window: no assignment meets
   * every feasible deadline, and the bound is then a bound on cost alone.
   */
  overcommitted: boolean;
  /** What the bound charges each item, by id (for diagnostics: where a policy pays more). */
  perItemUsd: Map<number, number>;
}

interface LocalClaim {
  release: number;
  deadline: number;
  /** Sequence-ms on the local pool. */
  runMs: number;
  /** Dollars saved by running it locally instead of on its cheapest deadline-meeting cloud provider. */
  savingUsd: number;
  id: number;
}

/**
 * A lower bound on the cost of any assignment that meets every feasible deadline, computed offline with
 * everything known in advance: true sizes, speeds, arrivals and outages.
 *
 * Each item costs at least:
 * - infeasible (nobody meets its deadline even idle): its cheapest cleared provider;
 * - feasible only in the cloud: its cheapest deadline-meeting cleared cloud provider;
 * - feasible only locally (e.g. restricted): local, and it must get local capacity;
 * - feasible both ways: the cloud price, minus the saving if it gets local capacity instead.
 * The cloud side is relaxed to unlimited parallelism. The local side is relaxed to a fluid, preemptive
 * machine of `sequences` sequence-ms per ms: any real schedule that finishes every local item in its
 * window [arrival, deadline] processes, for every interval [t1, t2], at least the work of the items
 * whose windows lie inside it, within sequences × (t2 − t1). Those interval constraints (plus "each
 * item at most once") are all that is kept, and fractions of items are allowed. Dropping constraints
 * and allowing fractions only enlarges the feasible set, so the optimum of this relaxation is ≤ the
 * cost of every deadline-meeting assignment.
 *
 * The relaxation is solved exactly: the vectors of local work it admits form a polymatroid (the
 * routable supplies of a bipartite item→time network, intersected with a box), over which the greedy
 * algorithm is optimal — take items by saving per sequence-ms, each as much as the tightest interval
 * containing its window still allows. By Hall's theorem for interval windows, that allowance is the
 * minimum slack over intervals [t1, t2] ⊇ [arrival, deadline] with t1 a release and t2 a deadline.
 */
export function costLowerBound(items: readonly SimItem[], resources: Resources): CostBound {
  let costUsd = 0;
  let feasibleItems = 0;
  const perItemUsd = new Map<number, number>();
  // Windows on the local pool's up clock: its capacity over any interval is what it was up in it (issue 19).
  const up = upClock(resources.local);
  const forced: LocalClaim[] = [];
  const contended: LocalClaim[] = [];
  for (const item of items) {
    const o = itemOptions(item, resources);
    if (o.feasible) feasibleItems += 1;
    const claim = { release: up(item.arrivalAt), deadline: up(item.deadline), runMs: o.localRunMs, id: item.id };
    const charge = !o.feasible
      ? o.cheapestClearedCostUsd
      : !o.localMeetsDeadline
        ? o.cloudCostUsd!
        : o.cloudCostUsd === null
          ? o.localCostUsd
          : o.cloudCostUsd;
    perItemUsd.set(item.id, charge);
    costUsd += charge;
    if (o.feasible && o.localMeetsDeadline && o.cloudCostUsd === null) forced.push({ ...claim, savingUsd: Infinity });
    else if (o.feasible && o.localMeetsDeadline && o.cloudCostUsd! > o.localCostUsd)
      contended.push({ ...claim, savingUsd: o.cloudCostUsd! - o.localCostUsd });
  }
  contended.sort((a, b) => b.savingUsd / b.runMs - a.savingUsd / a.runMs || a.id - b.id);
  const capacity = new FluidLocalCapacity(resources.local.sequences, [...forced, ...contended]);
  let overcommitted = false;
  for (const claim of forced) {
    if (capacity.take(claim.release, claim.deadline, claim.runMs) < claim.runMs * (1 - 1e-9)) overcommitted = true;
  }
  for (const claim of contended) {
    const saved = (claim.savingUsd * capacity.take(claim.release, claim.deadline, claim.runMs)) / claim.runMs;
    costUsd -= saved;
    perItemUsd.set(claim.id, perItemUsd.get(claim.id)! - saved);
  }
  return { costUsd, feasibleItems, overcommitted, perItemUsd };
}

interface Window {
  release: number;
  deadline: number;
  /** Index of `deadline` in the sorted distinct deadlines. */
  d: number;
  load: number;
  exhausted: boolean;
}

/**
 * The fluid local machine of the relaxation: `sequences` units of work per ms, shared by windows
 * [release, deadline]. take() grants as much as every interval containing the window still has free.
 */
export class FluidLocalCapacity {
  private readonly deadlines: number[];
  private readonly windows = new Map<string, Window>();
  /** Windows by release, latest first: the sweep adds them as t1 moves back in time. */
  private readonly byRelease: Window[];
  private readonly tree: MinAddTree;
  private totalLoad = 0;

  constructor(
    private readonly sequences: number,
    claims: ReadonlyArray<{ release: number; deadline: number }>,
  ) {
    this.deadlines = [...new Set(claims.map((c) => c.deadline))].sort((a, b) => a - b);
    const index = new Map(this.deadlines.map((d, i) => [d, i]));
    for (const c of claims) {
      const key = `${c.release}:${c.deadline}`;
      if (!this.windows.has(key))
        this.windows.set(key, {
          release: c.release,
          deadline: c.deadline,
          d: index.get(c.deadline)!,
          load: 0,
          exhausted: false,
        });
    }
    this.byRelease = [...this.windows.values()].sort((a, b) => b.release - a.release);
    this.tree = new MinAddTree(this.deadlines.length);
  }

  /** Grants up to `amount` sequence-ms to the window and returns what it granted. */
  take(release: number, deadline: number, amount: number): number {
    const w = this.windows.get(`${release}:${deadline}`);
    if (!w) throw new Error('take() for a window the capacity was not built with');
    if (w.exhausted) return 0;
    const free = this.freeFor(w);
    const granted = Math.min(amount, free);
    if (granted <= amount * 1e-12) {
      w.exhausted = true; // loads only grow, so this window never has room again
      return 0;
    }
    w.load += granted;
    this.totalLoad += granted;
    return granted;
  }

  /**
   * min over t1 ≤ release, t2 ≥ deadline of sequences·(t2 − t1) − load(windows inside [t1, t2]).
   * Sweeps t1 backwards over releases; a tree over deadlines holds sequences·t2 − load for each t2.
   */
  private freeFor(w: Window): number {
    const C = this.sequences;
    this.tree.reset((i) => C * this.deadlines[i]);
    let remaining = this.totalLoad;
    let best: number;
    let k = 0;
    const addUpTo = (release: number) => {
      for (; k < this.byRelease.length && this.byRelease[k].release >= release; k++) {
        const x = this.byRelease[k];
        if (x.load > 0) {
          this.tree.add(x.d, -x.load);
          remaining -= x.load;
        }
      }
    };
    addUpTo(w.release);
    best = this.tree.minFrom(w.d) - C * w.release;
    while (k < this.byRelease.length) {
      const t1 = this.byRelease[k].release;
      const low = this.tree.minFrom(w.d);
      // No earlier t1 can do better: it adds at most `remaining` load and capacity C·(release − t1) ≥ 0.
      if (low - remaining - C * t1 >= best) break;
      addUpTo(t1);
      best = Math.min(best, this.tree.minFrom(w.d) - C * t1);
    }
    return Math.max(0, best);
  }
}

/** Suffix add and suffix min over n slots (a lazy segment tree). */
class MinAddTree {
  private readonly min: Float64Array;
  private readonly lazy: Float64Array;

  constructor(private readonly n: number) {
    this.min = new Float64Array(4 * Math.max(1, n));
    this.lazy = new Float64Array(4 * Math.max(1, n));
  }

  reset(value: (i: number) => number): void {
    this.lazy.fill(0);
    this.build(1, 0, this.n - 1, value);
  }

  /** Adds delta to every slot from `from` to the end. */
  add(from: number, delta: number): void {
    this.update(1, 0, this.n - 1, from, delta);
  }

  /** The minimum over slots from `from` to the end. */
  minFrom(from: number): number {
    return this.query(1, 0, this.n - 1, from);
  }

  private build(node: number, lo: number, hi: number, value: (i: number) => number): void {
    if (lo === hi) {
      this.min[node] = value(lo);
      return;
    }
    const mid = (lo + hi) >> 1;
    this.build(2 * node, lo, mid, value);
    this.build(2 * node + 1, mid + 1, hi, value);
    this.min[node] = Math.min(this.min[2 * node], this.min[2 * node + 1]);
  }

  private update(node: number, lo: number, hi: number, from: number, delta: number): void {
    if (hi < from) return;
    if (lo >= from) {
      this.min[node] += delta;
      this.lazy[node] += delta;
      return;
    }
    const mid = (lo + hi) >> 1;
    this.update(2 * node, lo, mid, from, delta);
    this.update(2 * node + 1, mid + 1, hi, from, delta);
    this.min[node] = Math.min(this.min[2 * node], this.min[2 * node + 1]) + this.lazy[node];
  }

  private query(node: number, lo: number, hi: number, from: number): number {
    if (hi < from) return Infinity;
    if (lo >= from) return this.min[node];
    const mid = (lo + hi) >> 1;
    return Math.min(this.query(2 * node, lo, mid, from), this.query(2 * node + 1, mid + 1, hi, from)) + this.lazy[node];
  }
}
