import { describe, expect, it, jest } from '@jest/globals';
import { routableItem } from '#libs/batches';
import type { BatchTask, Sensitivity, WorkItem } from '#libs/domain';
import { InMemoryJobQueue, JobName, deadlinePriority, queueRefFor } from '#libs/queue';
import {
  DEFER_MS,
  RoutingPolicy,
  TokenCalibration,
  workTokensOn,
  type ProviderView,
  type RoutingState,
} from '#libs/routing';
import { EscalationWatchdog } from './escalation-watchdog.js';

const MAX_OUTPUT = 512;
const TASK: BatchTask = { type: 'summarize' };
const local = queueRefFor('local', 'llama');

const item = (index: number, chars: number, sensitivity: Sensitivity, deadline: number): WorkItem => ({
  batchId: 'b',
  index,
  itemId: `d${index}`,
  kind: 'document-processing',
  sensitivity,
  deadline,
  input: 'lorem ipsum '.repeat(chars / 12),
});
const work = (w: WorkItem) => workTokensOn(routableItem(w, TASK, MAX_OUTPUT, new TokenCalibration()), undefined);

// One sequence at 10 work tokens/s, nothing running.
const pool: ProviderView = {
  target: 'local',
  name: 'llama',
  model: 'llama',
  clearance: 'restricted',
  price: { inputPerMTokUsd: 0.01, outputPerMTokUsd: 0.01 },
  tokensPerSec: 10,
  concurrency: 1,
  backlogTokens: 0,
  latencyMs: 0,
  queue: [],
};
const frontier = (circuit: ProviderView['circuit']): ProviderView => ({
  target: 'cloud',
  name: 'frontier',
  model: 'gpt',
  clearance: 'internal',
  price: { inputPerMTokUsd: 1, outputPerMTokUsd: 4 },
  tokensPerSec: 100,
  concurrency: 10,
  backlogTokens: 0,
  latencyMs: 500,
  circuit,
});

/**
 * A long document then three short ones, one batch, one deadline: in arrival order the long one and the first
 * short one make it and the other two are late; the three short ones alone fit.
 */
async function overloadedQueue(sensitivity: Sensitivity, now: number) {
  const long = item(0, 4000, sensitivity, 0);
  const short = item(1, 400, sensitivity, 0);
  expect(work(long)).toBeGreaterThan(2 * work(short));
  const deadline = now + ((work(long) + work(short)) / 10) * 1000 + 100;
  const items = [0, 1, 2, 3].map((i) => ({ ...(i === 0 ? long : short), index: i, itemId: `d${i}`, deadline }));
  const jobs = new InMemoryJobQueue();
  await jobs.enqueue(
    local,
    items.map((data) => ({
      name: JobName.RunItem,
      data,
      jobId: `b.${data.index}`,
      priority: deadlinePriority(deadline),
    })),
  );
  return { jobs, deadline };
}

function watchdog(jobs: InMemoryJobQueue, clouds: ProviderView[], now: number) {
  const apply = jest.fn(async () => false);
  const markDeferred = jest.fn(async (_batchId: string, _index: number, _now?: number) => true);
  const state: RoutingState = { now, providers: [pool, ...clouds] };
  const dog = new EscalationWatchdog({
    jobs,
    store: { task: async () => TASK, markDeferred },
    directory: { routingState: async () => state, calibration: async () => new TokenCalibration() },
    rerouter: { apply },
    policy: new RoutingPolicy(),
    localModels: ['llama'],
    intervalMs: 10_000,
    maxOutputTokens: MAX_OUTPUT,
  });
  return { dog, apply, markDeferred };
}

const order = async (jobs: InMemoryJobQueue) =>
  (await jobs.waiting<JobName.RunItem>(local, 10)).map((j) => [j.id, j.priority]);

describe('EscalationWatchdog: late local work nothing can move', () => {
  it('defers the long item behind the short ones, once, when no cloud provider can take them', async () => {
    const now = Date.now();
    const { jobs, deadline } = await overloadedQueue('restricted', now);
    const { dog, apply, markDeferred } = watchdog(jobs, [frontier('closed')], now);
    expect(await dog.sweep(now)).toBe(0);
    expect(apply).not.toHaveBeenCalled(); // restricted: nowhere to move it
    expect(markDeferred.mock.calls).toEqual([['b', 0, now]]);
    const due = deadlinePriority(deadline);
    const deferred = deadlinePriority(deadline + DEFER_MS);
    expect(await order(jobs)).toEqual([
      ['b.1', due],
      ['b.2', due],
      ['b.3', due],
      ['b.0', deferred],
    ]);
    // The next sweep finds nothing late among what is not deferred, and defers nothing twice.
    await dog.sweep(now + 1000);
    expect(markDeferred).toHaveBeenCalledTimes(1);
    expect(await order(jobs)).toEqual([
      ['b.1', due],
      ['b.2', due],
      ['b.3', due],
      ['b.0', deferred],
    ]);
  });

  it('counts a half-open cloud provider as no way out, and leaves to escalation what a closed one can take', async () => {
    const now = Date.now();
    const halfOpen = await overloadedQueue('internal', now);
    await watchdog(halfOpen.jobs, [frontier('half-open')], now).dog.sweep(now);
    expect((await order(halfOpen.jobs)).map(([id]) => id)).toEqual(['b.1', 'b.2', 'b.3', 'b.0']);

    const closed = await overloadedQueue('internal', now);
    await watchdog(closed.jobs, [frontier('closed')], now).dog.sweep(now);
    // The frontier can still take the late ones in time: the watchdog moves them when their lead runs out.
    expect((await order(closed.jobs)).map(([id]) => id)).toEqual(['b.0', 'b.1', 'b.2', 'b.3']);
  });
});
