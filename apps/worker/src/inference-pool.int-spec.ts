import { afterAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { QueueTuning } from '#libs/config';
import type { WorkItem } from '#libs/domain';
import type { InferenceProvider } from '#libs/providers';
import { JobQueue, bullPrefix, deadlinePriority, JobName, queueName, queueRefFor, type QueueRef } from '#libs/queue';
import { DEFER_MS } from '#libs/routing';
import { InferencePool } from './inference-pool.js';
import type { ItemOutcome } from './item-outcome.js';
import { LOCK_LOST } from './running-item.js';

/**
 * Preemption across workers (issue 19 §4 follow-up): two pools of one model, on real BullMQ, each running an item
 * due tomorrow on its one sequence, see the same urgent job at the head of their queue. Only one of them stops a
 * run for it, although the stopped run takes a while to write its way out and the other pool checks meanwhile.
 */
const tuning: QueueTuning = {
  lockDurationMs: 5000,
  stalledIntervalMs: 1000,
  maxStalledCount: 1,
  attempts: 2,
  backoffMs: 10,
};
const queue = queueRefFor('local', 'tiny');
const deferring = queueRefFor('local', 'deferring');
const stopping = queueRefFor('cloud', 'stopping');
const losing = queueRefFor('cloud', 'losing');
const HOUR = 3_600_000;

describe('InferencePool preemption with several pools of one model', () => {
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const url = process.env.REDIS_URL!;
  const bull = new Queue(queueName(queue), { connection: { url }, prefix: bullPrefix(prefix) });
  const bullDeferring = new Queue(queueName(deferring), { connection: { url }, prefix: bullPrefix(prefix) });
  const bullStopping = new Queue(queueName(stopping), { connection: { url }, prefix: bullPrefix(prefix) });
  const bullLosing = new Queue(queueName(losing), { connection: { url }, prefix: bullPrefix(prefix) });
  const jobs = new JobQueue(
    new Map([
      [queueName(queue), bull],
      [queueName(deferring), bullDeferring],
      [queueName(stopping), bullStopping],
      [queueName(losing), bullLosing],
    ]),
    { url },
    prefix,
    tuning,
  );
  const pools: InferencePool[] = [];
  // Runs still going when the test ends (the item nobody preempted) end here, so the pools can stop.
  const hanging: (() => void)[] = [];

  /** One item's job on `q`, with the priority of its deadline unless told otherwise (a deferred one). */
  const enqueueItem = (q: QueueRef, id: string, deadline: number, priority = deadlinePriority(deadline)) =>
    jobs.enqueue(q, [
      {
        name: JobName.RunItem,
        jobId: id,
        data: {
          batchId: 'b',
          index: 0,
          itemId: id,
          kind: 'document-processing',
          sensitivity: 'internal',
          deadline,
          input: 'x',
        },
        priority,
      },
    ]);

  /** A pool of one sequence on `q` whose items `processor` runs, preempting for work due a minute sooner. */
  async function startPool(
    q: QueueRef,
    processor: ConstructorParameters<typeof InferencePool>[1]['processor'],
    preemption: { slackMs: number; checkMs: number } | undefined = { slackMs: 60_000, checkMs: 50 },
  ) {
    const pool = new InferencePool(
      {
        target: 'local',
        queue: q,
        provider: {} as InferenceProvider,
        price: { inputPerMTokUsd: 0, outputPerMTokUsd: 0 },
        heartbeatMs: 60_000,
        describe: () => ({
          model: q.provider,
          status: 'consuming' as const,
          reason: 'test pool',
          device: 'cpu',
          deviceNames: [],
          memory: { totalBytes: 1e9, freeBytes: 1e9 },
          modelBytes: 1e6,
          sequences: 1,
          activeSequences: 1,
        }),
        preemption,
      },
      { jobs, registry: { beat: async () => undefined, remove: async () => undefined }, processor },
    );
    pools.push(pool);
    await pool.start();
  }

  afterAll(async () => {
    hanging.forEach((end) => end());
    await Promise.all(pools.map((p) => p.stop(1000)));
    await jobs.closeConsumers(2000);
    for (const q of [bull, bullDeferring, bullStopping, bullLosing]) {
      await q.obliterate({ force: true });
      await q.close();
    }
  });

  it('stops one run for the job at the head, not one per pool', async () => {
    const started: string[] = [];
    const preempted: string[] = [];
    // An item due tomorrow runs until its pool stops it; stopped, it takes 400 ms to write its way out (ItemEndings).
    // Run again, or due soon, it ends at once.
    const processor = {
      run: (job: { id: string; data: WorkItem }, _on: unknown, stop?: AbortSignal): Promise<ItemOutcome> => {
        started.push(job.id);
        if (job.data.deadline - Date.now() < HOUR || preempted.includes(job.id))
          return Promise.resolve({ kind: 'completed' });
        return new Promise((resolve) => {
          hanging.push(() => resolve({ kind: 'completed' }));
          stop?.addEventListener('abort', () => {
            preempted.push(job.id);
            setTimeout(() => resolve({ kind: 'preempted' }), 400);
          });
        });
      },
    };
    for (let i = 0; i < 2; i++) await startPool(queue, processor);
    const enqueue = (id: string, deadline: number) => enqueueItem(queue, id, deadline);
    await enqueue('tomorrow-1', Date.now() + 24 * HOUR);
    await enqueue('tomorrow-2', Date.now() + 24 * HOUR);
    for (let waited = 0; started.length < 2; waited += 20) {
      if (waited > 10_000) throw new Error('the pools did not take the two items');
      await new Promise((r) => setTimeout(r, 20));
    }
    await enqueue('urgent', Date.now() + 60_000);
    for (let waited = 0; !started.includes('urgent'); waited += 20) {
      if (waited > 10_000) throw new Error('the urgent item never ran');
      await new Promise((r) => setTimeout(r, 20));
    }
    // The other pool kept checking while the stopped run wrote its way out: it saw the same head, and left it.
    await new Promise((r) => setTimeout(r, 500));
    expect(preempted).toHaveLength(1);
    // The urgent item and the preempted one, run again, complete; the other item due tomorrow is still running.
    for (let waited = 0; (await jobs.depth(queue)).completed < 2; waited += 20) {
      if (waited > 10_000) throw new Error('the urgent and the preempted item did not complete');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(started.filter((id) => id === preempted[0])).toHaveLength(2);
    expect((await jobs.depth(queue)).active).toBe(1);
  });

  it('lets a deferred item at the head stop only work due after its deferred deadline', async () => {
    const started: string[] = [];
    const stopped: string[] = [];
    const processor = {
      run: (job: { id: string }, _on: unknown, stop?: AbortSignal): Promise<ItemOutcome> => {
        started.push(job.id);
        return new Promise((resolve) => {
          hanging.push(() => resolve({ kind: 'completed' }));
          stop?.addEventListener('abort', () => {
            stopped.push(job.id);
            resolve({ kind: 'preempted' });
          });
        });
      },
    };
    await startPool(deferring, processor);
    const enqueue = (id: string, deadline: number, priority: number) => enqueueItem(deferring, id, deadline, priority);
    // Running: due in 10 minutes, so it may give way (slack 1 min) to what is due before that.
    const running = Date.now() + 10 * 60_000;
    await enqueue('running', running, deadlinePriority(running));
    for (let waited = 0; !started.includes('running'); waited += 20) {
      if (waited > 10_000) throw new Error('the pool did not take the item');
      await new Promise((r) => setTimeout(r, 20));
    }
    // Deferred by the watchdog: due in 2 minutes, waiting as if due 32 minutes from now. Compared by its own
    // deadline it would stop the run, whose job would then come back ahead of it.
    const late = Date.now() + 2 * 60_000;
    await enqueue('deferred', late, deadlinePriority(late + DEFER_MS));
    await new Promise((r) => setTimeout(r, 600));
    expect(stopped).toEqual([]);
    // Not deferred, the same item takes the sequence.
    const urgent = Date.now() + 2 * 60_000;
    await enqueue('urgent', urgent, deadlinePriority(urgent));
    for (let waited = 0; !started.includes('urgent'); waited += 20) {
      if (waited > 10_000) throw new Error('the urgent item never ran');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(stopped).toEqual(['running']);
  });

  it('hands back what still runs at the end of its drain when it stops: queued again, no attempt spent', async () => {
    const reasons: unknown[] = [];
    // A long answer, longer than the drain: it ends only when its run is stopped.
    const processor = {
      run: (_job: unknown, _on: unknown, stop?: AbortSignal): Promise<ItemOutcome> =>
        new Promise((resolve) =>
          stop?.addEventListener('abort', () => {
            reasons.push((stop.reason as Error).message);
            resolve({ kind: 'preempted' });
          }),
        ),
    };
    // A pool that does not preempt (a cloud provider's): stopping hands back all the same.
    await startPool(stopping, processor, undefined);
    const pool = pools.at(-1)!;
    await enqueueItem(stopping, 'long', Date.now() + 24 * HOUR);
    for (let waited = 0; (await jobs.depth(stopping)).active < 1; waited += 20) {
      if (waited > 10_000) throw new Error('the pool did not take the item');
      await new Promise((r) => setTimeout(r, 20));
    }
    const t0 = Date.now();
    await pool.stop(1_000);
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(reasons).toEqual(['its worker is stopping']);
    // Back in the queue for any worker, not left active for its lock to lapse (a stall counted against it).
    expect(await jobs.depth(stopping)).toMatchObject({ active: 0, prioritized: 1 });
    const job = await bullStopping.getJob('long');
    expect(job?.attemptsMade).toBe(0);
    expect(job?.stalledCounter ?? 0).toBe(0);
  });

  it("stops a run whose job's lock its worker lost, and the job runs again from the queue", async () => {
    const reasons: string[] = [];
    let runs = 0;
    // The first run waits for an answer until it is stopped; the job's rerun answers at once.
    const processor = {
      run: (_job: unknown, _on: unknown, stop?: AbortSignal): Promise<ItemOutcome> => {
        runs += 1;
        if (runs > 1) return Promise.resolve({ kind: 'completed' });
        return new Promise((resolve) =>
          stop?.addEventListener('abort', () => {
            reasons.push((stop.reason as Error).message);
            resolve({ kind: 'abandoned' });
          }),
        );
      },
    };
    await startPool(losing, processor, undefined);
    await enqueueItem(losing, 'lost', Date.now() + 24 * HOUR);
    for (let waited = 0; runs < 1; waited += 20) {
      if (waited > 10_000) throw new Error('the pool did not take the item');
      await new Promise((r) => setTimeout(r, 20));
    }
    // What a stall past the lock's duration leaves: the job active, its lock gone (or another worker's).
    const client = await bullLosing.getBackend().client;
    expect(await client.del(`${bullLosing.toKey('lost')}:lock`)).toBe(1);
    for (let waited = 0; (await jobs.depth(losing)).completed < 1; waited += 50) {
      if (waited > 15_000) throw new Error('the job never ran again');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(reasons).toEqual([LOCK_LOST]);
    expect(runs).toBe(2);
    expect((await jobs.depth(losing)).failed).toBe(0);
  });
});
