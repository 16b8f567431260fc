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
    store: { task: async () => TASK, markDeferred, item: async () => null },
    directory: { routingState: async () => state, calibration: async () => new TokenCalibration() },
    rerouter: { apply, propose: async () => null, enqueueCurrent: async () => undefined },
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

describe('EscalationWatchdog, queues of providers no longer configured', () => {
  const retired = queueRefFor('local', 'old');
  const decision = {
    target: 'local' as const,
    provider: 'llama',
    model: 'llama',
    reason: 'cheapest cleared provider meeting the deadline',
    atRisk: false,
    estimatedFinishAt: 0,
    estimatedCostUsd: 0,
  };

  async function setUp(opts: { live?: Array<{ target: 'local' | 'cloud'; provider: string }> } = {}) {
    const now = Date.now();
    const jobs = new InMemoryJobQueue({ queues: [local], retired: [retired] });
    const free = item(0, 400, 'restricted', now + 3_600_000);
    const pinned = { ...item(1, 400, 'public', now + 3_600_000), model: 'old' };
    const parked = item(2, 400, 'public', now + 3_600_000);
    await jobs.enqueue(retired, [
      { name: JobName.RunItem, data: free, jobId: 'b.0', priority: 1 },
      { name: JobName.RunItem, data: pinned, jobId: 'b.1', priority: 1 },
      { name: JobName.RunItem, data: parked, jobId: 'b.2', delayMs: 60_000 },
    ]);
    // Each item's route as the store holds it: the retired provider until a move is written.
    const routes = new Map<number, string>();
    /** Set: the worker dies once the next move is written, before its new job is added. */
    const dies: { afterWrite?: boolean } = {};
    // As ItemRerouter does: the move is written only from the retired provider, then its new job is added.
    const apply = jest.fn(async (w: WorkItem) => {
      if ((routes.get(w.index) ?? 'old') !== 'old') return false;
      routes.set(w.index, decision.provider);
      if (dies.afterWrite) {
        dies.afterWrite = false;
        throw new Error('worker killed');
      }
      await enqueueCurrent(w, decision.target, decision.provider, 2);
      return true;
    });
    const enqueueCurrent = jest.fn(async (w: WorkItem, _t: unknown, _p: string, n: number) => {
      await jobs.enqueue(local, [{ name: JobName.RunItem, data: w, jobId: `b.${w.index}.r${n}`, priority: 1 }]);
    });
    // As ItemRerouter does: a pinned item has nowhere else to go.
    const propose = jest.fn(async (w: WorkItem) => (w.model ? null : decision));
    const view = async (_b: string, index: number) => {
      const provider = routes.get(index) ?? 'old';
      const route = { target: 'local', provider, model: provider, reason: '' };
      return { status: 'queued', route, routeHistory: [route, ...(provider === 'old' ? [] : [route])] } as never;
    };
    const dog = new EscalationWatchdog({
      jobs,
      store: { task: async () => TASK, markDeferred: async () => true, item: view },
      directory: {
        routingState: async () => ({ now, providers: [pool] }),
        calibration: async () => new TokenCalibration(),
      },
      rerouter: { apply, propose, enqueueCurrent },
      policy: new RoutingPolicy(),
      localModels: ['llama'],
      intervalMs: 10_000,
      maxOutputTokens: MAX_OUTPUT,
      livePools: async () => opts.live ?? [],
    });
    return { jobs, dog, apply, propose, now, dies };
  }

  it('routes each waiting or parked item again and takes its job off the retired queue; a pinned one stays', async () => {
    const { jobs, dog, apply, now } = await setUp();
    expect(await jobs.retiredQueues()).toEqual([retired]);
    expect(await dog.sweep(now)).toBe(2);
    const from = { target: 'local', provider: 'old' };
    expect(
      apply.mock.calls.map((c: unknown[]) => [(c[0] as WorkItem).index, c[1], (c[3] as { why: string }).why]),
    ).toEqual([
      [0, from, expect.stringMatching(/^moved: old is no longer configured/)],
      [2, from, expect.stringMatching(/^moved: old is no longer configured/)],
    ]);
    expect((await jobs.waiting(retired, 10, { delayed: true })).map((j) => j.id)).toEqual(['b.1']);
  });

  it('adds the job of an item a sweep moved before its worker died, and takes the stale one off the retired queue', async () => {
    const { jobs, dog, now, dies } = await setUp();
    dies.afterWrite = true;
    await expect(dog.sweep(now)).rejects.toThrow('worker killed');
    // Item 0 is routed to llama now, with no job there; its old job still waits where nothing consumes.
    expect(await jobs.waiting(local, 10)).toEqual([]);
    await dog.sweep(now + 60_000);
    expect((await jobs.waiting(local, 10)).map((j) => j.id).sort()).toEqual(['b.0.r2', 'b.2.r2']);
    expect((await jobs.waiting(retired, 10, { delayed: true })).map((j) => j.id)).toEqual(['b.1']);
  });

  it('leaves a retired queue that a live pool still serves (a worker of the old config, mid deploy)', async () => {
    const { jobs, dog, apply, now } = await setUp({ live: [{ target: 'local', provider: 'old' }] });
    expect(await dog.sweep(now)).toBe(0);
    expect(apply).not.toHaveBeenCalled();
    expect(await jobs.waiting(retired, 10, { delayed: true })).toHaveLength(3);
  });

  it('looks for retired queues once a minute, not on every sweep', async () => {
    const { jobs, dog, now } = await setUp();
    const look = jest.spyOn(jobs, 'retiredQueues');
    await dog.sweep(now);
    await dog.sweep(now + 10_000);
    expect(look).toHaveBeenCalledTimes(1);
    await dog.sweep(now + 60_000);
    expect(look).toHaveBeenCalledTimes(2);
  });
});
