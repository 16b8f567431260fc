import { describe, expect, it } from '@jest/globals';
import { costOf } from '#libs/routing';
import { itemOptions } from './feasibility.js';
import { costLowerBound, FluidLocalCapacity } from './lower-bound.js';
import { Random } from './random.js';
import type { Resources, SimItem } from './resources.js';
import { allCloud, switchyard } from './routers.js';
import { simulate } from './simulator.js';
import { generateWorkload } from './workload.js';
import { SCENARIOS } from './scenarios.js';

const resources = (sequences = 1): Resources => ({
  local: {
    name: 'local',
    sequences,
    tokensPerSec: 10,
    configuredTokensPerSec: 10,
    price: { inputPerMTokUsd: 0.01, outputPerMTokUsd: 0.03 },
  },
  clouds: [
    {
      name: 'frontier',
      clearance: 'internal',
      latencyMs: 0,
      tokensPerSec: 100,
      configuredTokensPerSec: 100,
      concurrency: 64,
      price: { inputPerMTokUsd: 0.15, outputPerMTokUsd: 0.6 },
      outages: [],
    },
  ],
  requestTimeoutMs: 30_000,
});

let nextId = 0;
/** `seconds` of local work (10 tok/s), all of it output. */
const item = (
  arrivalAt: number,
  deadline: number,
  seconds: number,
  sensitivity: SimItem['sensitivity'] = 'public',
): SimItem => ({
  id: nextId++,
  batch: nextId,
  arrivalAt,
  deadline,
  sensitivity,
  kind: 'summarize',
  inputTokens: 0,
  expectedOutputTokens: seconds * 10,
  outputTokens: seconds * 10,
  speedFactor: 1,
  latencyFactor: 1,
});
const local = (i: SimItem) =>
  costOf({ inputTokens: i.inputTokens, outputTokens: i.outputTokens }, resources().local.price);
const cloud = (i: SimItem) =>
  costOf({ inputTokens: i.inputTokens, outputTokens: i.outputTokens }, resources().clouds[0].price);

describe('costLowerBound', () => {
  it('charges every item its local price when the local pool has room for all of them', () => {
    const items = [item(0, 100_000, 10), item(0, 100_000, 20), item(5000, 200_000, 30)];
    expect(costLowerBound(items, resources()).costUsd).toBeCloseTo(
      items.reduce((s, i) => s + local(i), 0),
      12,
    );
  });

  it('gives one sequence to what fits in the window and charges the rest at the cloud price', () => {
    // Two 10 s items due at 12 s on one sequence: 12 s of capacity — one item and a fifth of the other.
    const [a, b] = [item(0, 12_000, 10), item(0, 12_000, 10)];
    const bound = costLowerBound([a, b], resources()).costUsd;
    expect(bound).toBeCloseTo(local(a) + cloud(b) - 0.2 * (cloud(b) - local(b)), 12);
  });

  it('keeps restricted work local and says so when it cannot all fit', () => {
    const items = [item(0, 12_000, 10, 'restricted'), item(0, 12_000, 10, 'restricted')];
    const bound = costLowerBound(items, resources());
    expect(bound.costUsd).toBeCloseTo(local(items[0]) + local(items[1]), 12);
    expect(bound.overcommitted).toBe(true);
  });

  it('is at most the cost of every assignment that meets every feasible deadline (brute force, small cases)', () => {
    const dice = new Random(7);
    for (let trial = 0; trial < 150; trial++) {
      const sequences = dice.int(1, 2);
      const n = dice.int(2, 7);
      const items = Array.from({ length: n }, () => {
        const arrival = dice.int(0, 20) * 1000;
        const seconds = dice.int(1, 12);
        return item(
          arrival,
          arrival + dice.int(seconds, 3 * seconds + 5) * 1000,
          seconds,
          dice.pick([
            ['public', 3],
            ['restricted', 1],
          ] as const),
        );
      });
      const bound = costLowerBound(items, resources(sequences)).costUsd;
      expect(bound).toBeLessThanOrEqual(cheapestValidAssignment(items, resources(sequences)) + 1e-12);
    }
  });

  it('is at most what a simulated policy pays when it meets every feasible deadline', () => {
    const scenario = SCENARIOS.find((s) => s.name === 'steady')!;
    const items = generateWorkload({ ...scenario.workload, durationMs: 20 * 60_000 });
    const bound = costLowerBound(items, scenario.resources);
    const missed = (router: ReturnType<typeof allCloud>) => {
      const result = simulate(items, scenario.resources, router);
      const late = result.outcomes.filter(
        (o, i) => itemOptions(items[i], scenario.resources).feasible && o.finishedAt > items[i].deadline,
      );
      return { costUsd: result.costUsd, late: late.length };
    };
    const cloud = missed(allCloud());
    expect(cloud.late).toBe(0); // the clouds have room for everything here
    expect(bound.costUsd).toBeLessThanOrEqual(cloud.costUsd);
    const ours = missed(switchyard());
    // Where ours is optimal the two are equal but for the order of summation.
    if (ours.late === 0) expect(bound.costUsd).toBeLessThanOrEqual(ours.costUsd * (1 + 1e-9));
  });
});

describe('FluidLocalCapacity', () => {
  it('grants exactly what every interval containing the window still has free', () => {
    const dice = new Random(11);
    for (let trial = 0; trial < 100; trial++) {
      const sequences = dice.int(1, 3);
      const windows = Array.from({ length: dice.int(1, 6) }, () => {
        const release = dice.int(0, 10);
        return { release, deadline: release + dice.int(1, 8) };
      });
      const capacity = new FluidLocalCapacity(sequences, windows);
      const loads = windows.map(() => 0);
      windows.forEach((w, k) => {
        const request = dice.int(1, 12);
        const granted = capacity.take(w.release, w.deadline, request);
        loads[k] += granted;
        // Feasible: no interval holds more than it has (Hall's condition for interval windows)...
        expect(slack(windows, loads, sequences)).toBeGreaterThanOrEqual(-1e-9);
        // ...and maximal: short of the request, a little more would overfill some interval.
        if (granted < request) {
          loads[k] += 1e-6;
          expect(slack(windows, loads, sequences)).toBeLessThan(0);
          loads[k] -= 1e-6;
        }
      });
    }
  });

  it('grants nothing more to a window once an interval around it is full', () => {
    const capacity = new FluidLocalCapacity(1, [
      { release: 0, deadline: 10 },
      { release: 2, deadline: 8 },
    ]);
    expect(capacity.take(0, 10, 7)).toBe(7);
    expect(capacity.take(2, 8, 6)).toBe(3); // [0, 10] holds 10: 7 taken, 3 left
    expect(capacity.take(0, 10, 1)).toBe(0);
  });
});

/** The least slack over all intervals [release_i, deadline_j]: negative means some interval is overfull. */
function slack(windows: Array<{ release: number; deadline: number }>, loads: number[], sequences: number): number {
  let least = Infinity;
  for (const a of windows) {
    for (const b of windows) {
      if (b.deadline <= a.release) continue;
      const inside = windows.reduce(
        (s, w, k) => s + (w.release >= a.release && w.deadline <= b.deadline ? loads[k] : 0),
        0,
      );
      least = Math.min(least, sequences * (b.deadline - a.release) - inside);
    }
  }
  return least;
}

/**
 * The cheapest assignment found by brute force in which every feasible item meets its deadline: each
 * subset of items to run locally, checked by list-scheduling every order of it on the sequences.
 */
function cheapestValidAssignment(items: SimItem[], res: Resources): number {
  const options = items.map((i) => itemOptions(i, res));
  let best = Infinity;
  for (let mask = 0; mask < 1 << items.length; mask++) {
    let cost = 0;
    const locals: number[] = [];
    let valid = true;
    items.forEach((_, k) => {
      const o = options[k];
      if (mask & (1 << k)) {
        cost += o.localCostUsd;
        if (o.feasible) locals.push(k);
      } else if (!o.feasible) cost += o.cheapestClearedCostUsd;
      else if (o.cloudCostUsd === null) valid = false;
      else cost += o.cloudCostUsd;
    });
    if (
      valid &&
      cost < best &&
      someOrderFits(
        locals.map((k) => items[k]),
        res,
      )
    )
      best = cost;
  }
  return best;
}

function someOrderFits(items: SimItem[], res: Resources): boolean {
  const permutations = (xs: SimItem[]): SimItem[][] =>
    xs.length <= 1
      ? [xs]
      : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
  return permutations(items).some((order) => {
    const free = new Array(res.local.sequences).fill(0);
    return order.every((i) => {
      const s = free.indexOf(Math.min(...free));
      const finish = Math.max(free[s], i.arrivalAt) + (i.outputTokens / res.local.tokensPerSec) * 1000;
      free[s] = finish;
      return finish <= i.deadline;
    });
  });
}
