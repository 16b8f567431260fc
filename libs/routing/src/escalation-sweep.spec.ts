import { describe, expect, it } from '@jest/globals';
import { escalationSweep as sweepSteps, type SweepEntry } from './escalation-sweep.js';
import { RoutingPolicy, type ProviderView, type QueuedWork, type RoutingState } from './routing-policy.js';

const NOW = 1_000_000_000;
const SEC = 1000;

// One sequence at 10 work tokens/s: 100 tokens take 10 s.
const local = (queue: QueuedWork[] = [], over: Partial<ProviderView> = {}): ProviderView => ({
  target: 'local',
  name: 'llama',
  model: 'llama',
  clearance: 'restricted',
  price: { inputPerMTokUsd: 0.01, outputPerMTokUsd: 0.01 },
  tokensPerSec: 10,
  concurrency: 1,
  backlogTokens: 0,
  latencyMs: 0,
  queue,
  ...over,
});

const clouds: RoutingState = {
  now: NOW,
  providers: [
    {
      target: 'cloud',
      name: 'frontier',
      model: 'gpt',
      clearance: 'internal',
      price: { inputPerMTokUsd: 1, outputPerMTokUsd: 4 },
      tokensPerSec: 200,
      concurrency: 50,
      backlogTokens: 0,
      latencyMs: 500,
    },
  ],
};

let next = 0;
const entry = (dueInS: number, tokens = 100, over: Partial<SweepEntry<string>> = {}): SweepEntry<string> => ({
  ref: `item-${next++}`,
  routable: { sensitivity: 'public', deadline: NOW + dueInS * SEC, inputTokens: 0, expectedOutputTokens: tokens },
  workTokens: tokens,
  ...over,
});

describe('escalationSweep', () => {
  const policy = new RoutingPolicy();
  const escalationSweep = (...args: Parameters<typeof sweepSteps<string>>) => [...sweepSteps(...args)];

  it('moves a waiting item that will miss its deadline, once waiting longer could leave no cloud on time', () => {
    // Running work holds the one sequence for 30 s; the first item is due in 20 s: it would finish at 40 s.
    const running = [{ deadline: NOW + 1000 * SEC, workTokens: 300, running: true }];
    const [urgent, lax] = [entry(20), entry(3600)];
    const moves = escalationSweep(policy, local(running), clouds, [urgent, lax], false);
    expect(moves).toEqual([expect.objectContaining({ ref: urgent.ref, why: 'late', localFinishAt: NOW + 40 * SEC })]);
    expect(moves[0].decision).toMatchObject({ target: 'cloud', provider: 'frontier' });
    // Due in 10 min, it is late too (630 s) but the cloud takes 31 s: it may wait for the pool to catch up.
    expect(escalationSweep(policy, local(running), clouds, [entry(599, 6000)], false)).toEqual([]);
  });

  it('leaves what moves out of the schedule, so the item behind it is on time', () => {
    const first = entry(25, 300); // 30 s: late, moves
    const second = entry(30); // behind the first, 40 s: late (and would move); without it, 10 s: on time
    const moves = escalationSweep(policy, local(), clouds, [first, second], false);
    expect(moves.map((m) => m.ref)).toEqual([first.ref]);
  });

  it('keeps a move its caller could not make in the schedule, so the item behind it is still late', () => {
    const [first, second] = [entry(25, 300), entry(30)];
    const steps = sweepSteps(policy, local(), clouds, [first, second], false);
    const moved: string[] = [];
    // The first item's move fails (a worker took it meanwhile): it holds the sequence, and the second moves.
    for (let step = steps.next(); !step.done; step = steps.next(step.value.ref !== first.ref))
      moved.push(step.value.ref);
    expect(moved).toEqual([first.ref, second.ref]);
  });

  it('keeps a pinned item and a restricted one (nowhere to go), both still taking their sequence', () => {
    const pinned = entry(5, 300, { stays: true });
    const restricted = entry(5, 300);
    restricted.routable = { ...restricted.routable, sensitivity: 'restricted' };
    const after = entry(20); // behind 60 s of work that stays: finishes at 70 s, late, moves
    const moves = escalationSweep(policy, local(), clouds, [pinned, restricted, after], false);
    expect(moves.map((m) => m.ref)).toEqual([after.ref]);
  });

  it('runs work its pool would preempt in its deadline place, ahead of what is due later', () => {
    // Preemptible running work of 40 s, due in 10 s: placed before the item due in 20 s, which finishes at 50 s.
    const sooner = [{ deadline: NOW + 10 * SEC, workTokens: 400, preemptible: true }];
    const item = entry(20);
    expect(escalationSweep(policy, local(sooner), clouds, [item], false).map((m) => m.ref)).toEqual([item.ref]);
    // Due after the item, it waits behind it: the item finishes at 10 s.
    const later = [{ deadline: NOW + 3600 * SEC, workTokens: 400, preemptible: true }];
    expect(escalationSweep(policy, local(later), clouds, [item], false)).toEqual([]);
  });

  it('moves every item a cloud provider can take when the model is down, however lax its deadline', () => {
    const [lax, restricted] = [entry(86_400), entry(86_400)];
    restricted.routable = { ...restricted.routable, sensitivity: 'restricted' };
    const moves = escalationSweep(policy, local([], { available: false }), clouds, [lax, restricted], true);
    expect(moves).toEqual([expect.objectContaining({ ref: lax.ref, why: 'down' })]);
  });
});
