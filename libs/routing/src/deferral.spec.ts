import { describe, expect, it } from '@jest/globals';
import { DEFER_MS, cannotMove, effectiveDeadline, lateDeferrals, type DeferralEntry } from './deferral.js';
import type { ProviderView, QueuedWork, RoutingState } from './routing-policy.js';

const NOW = 1_000_000_000;
const SEC = 1000;

// One sequence at 10 work tokens/s: 100 tokens take 10 s.
const pool = (queue: QueuedWork[] = [], concurrency = 1): ProviderView => ({
  target: 'local',
  name: 'llama',
  model: 'llama',
  clearance: 'restricted',
  price: { inputPerMTokUsd: 0.01, outputPerMTokUsd: 0.01 },
  tokensPerSec: 10,
  concurrency,
  backlogTokens: 0,
  latencyMs: 0,
  queue,
});

const entry = (ref: string, dueInSec: number, workTokens: number, over: Partial<DeferralEntry<string>> = {}) => ({
  ref,
  deadline: NOW + dueInSec * SEC,
  workTokens,
  deferred: false,
  stuck: true,
  ...over,
});

/** How many of `waiting` meet their deadline when the pool runs them in effective-deadline order. */
function onTime(view: ProviderView, waiting: DeferralEntry<string>[], deferred: readonly string[]): number {
  const order = waiting
    .map((e, i) => ({ e, i, due: effectiveDeadline(e.deadline, e.deferred || deferred.includes(e.ref)) }))
    .sort((a, b) => a.due - b.due || a.i - b.i);
  const free = new Array<number>(view.concurrency).fill(NOW);
  let met = 0;
  for (const { e } of order) {
    free.sort((a, b) => a - b);
    free[0] += (e.workTokens / view.tokensPerSec) * 1000;
    if (free[0] <= e.deadline) met += 1;
  }
  return met;
}

describe('lateDeferrals', () => {
  it('defers nothing while every item is on time', () => {
    expect(lateDeferrals(pool(), [entry('a', 20, 100), entry('b', 40, 100)], NOW)).toEqual([]);
  });

  it('defers the longest item up to the first late one, so that the short ones behind it are on time', () => {
    // All due in 30 s: 25 s + 3 × 5 s in arrival order; the last two short ones are late.
    const waiting = [entry('long', 30, 250), entry('s1', 30, 50), entry('s2', 30, 50), entry('s3', 30, 50)];
    expect(onTime(pool(), waiting, [])).toBe(2);
    const deferred = lateDeferrals(pool(), waiting, NOW);
    expect(deferred).toEqual(['long']);
    expect(onTime(pool(), waiting, deferred)).toBe(3);
    // A batch too large by far: the deferrals leave the most items on time that any order could.
    const batch = [
      entry('x', 30, 150),
      entry('y', 30, 120),
      entry('z', 30, 100),
      ...[1, 2, 3].map((i) => entry(`s${i}`, 30, 60)),
    ];
    expect(onTime(pool(), batch, [])).toBe(2);
    const out = lateDeferrals(pool(), batch, NOW);
    expect(out).toEqual(['x', 'y']);
    expect(onTime(pool(), batch, out)).toBe(4);
  });

  it('counts running work first, on every sequence', () => {
    const running: QueuedWork[] = [
      { deadline: NOW + 60 * SEC, workTokens: 100, running: true },
      { deadline: NOW + 60 * SEC, workTokens: 100, running: true },
    ];
    const waiting = [entry('a', 15, 100), entry('b', 15, 40)];
    // Both sequences are busy for 10 s: a (10 s) is late at 20 s; deferring it lets b finish at 14 s.
    expect(lateDeferrals(pool(running, 2), waiting, NOW)).toEqual(['a']);
    expect(lateDeferrals(pool([], 2), waiting, NOW)).toEqual([]);
  });

  it('leaves what can move (a cloud provider will take it) and what is deferred already', () => {
    const waiting = [
      entry('long', 30, 200, { stuck: false }),
      entry('s1', 30, 50),
      entry('s2', 30, 50),
      entry('s3', 30, 50),
    ];
    // The long one is the watchdog's to move; of the stuck ones behind it, one must give way.
    expect(lateDeferrals(pool(), waiting, NOW)).toEqual(['s1']);
    const already = [entry('long', 30, 200, { deferred: true }), entry('s1', 30, 50), entry('s2', 30, 50)];
    // Deferred, it runs after them: none is late, and it is not deferred again.
    expect(lateDeferrals(pool(), already, NOW)).toEqual([]);
  });

  it('runs a deferred item as due DEFER_MS after its deadline, ahead of work due later still', () => {
    expect(effectiveDeadline(NOW, false)).toBe(NOW);
    expect(effectiveDeadline(NOW, true)).toBe(NOW + DEFER_MS);
    const waiting = [entry('late', 10, 200), entry('soon', 10, 50), entry('tomorrow', 86_400, 10_000)];
    expect(lateDeferrals(pool(), waiting, NOW)).toEqual(['late']);
    expect(effectiveDeadline(waiting[0].deadline, true)).toBeLessThan(waiting[2].deadline);
  });
});

describe('cannotMove', () => {
  const cloud = (clearance: 'internal' | 'confidential', circuit?: 'closed' | 'half-open'): ProviderView => ({
    target: 'cloud',
    name: `${clearance}-cloud`,
    model: 'm',
    clearance,
    price: { inputPerMTokUsd: 1, outputPerMTokUsd: 4 },
    tokensPerSec: 100,
    concurrency: 10,
    backlogTokens: 0,
    latencyMs: 500,
    circuit,
  });
  const clouds = (...providers: ProviderView[]): RoutingState => ({ now: NOW, providers });

  it('is false only where a cloud provider cleared for the item has a closed circuit', () => {
    expect(cannotMove('internal', false, clouds(cloud('internal')))).toBe(false);
    expect(cannotMove('internal', false, clouds(cloud('internal', 'closed')))).toBe(false);
    // Half-open: failing its probes; counting on it left the bench's outage burst late.
    expect(cannotMove('internal', false, clouds(cloud('internal', 'half-open')))).toBe(true);
    expect(cannotMove('confidential', false, clouds(cloud('internal')))).toBe(true);
    expect(cannotMove('restricted', false, clouds(cloud('internal'), cloud('confidential')))).toBe(true);
    expect(cannotMove('public', false, clouds())).toBe(true);
  });

  it('is true for an item that stays on its model (pinned)', () => {
    expect(cannotMove('public', true, clouds(cloud('internal')))).toBe(true);
  });
});
