import { afterAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import type { QueueTuning } from '#libs/config';
import { bullPrefix } from './bull-prefix.js';
import { JobQueue } from './job-queue.js';
import { LockLost, RateLimited } from './job-errors.js';
import { JobName, queueName, queueRefFor } from './queue-names.js';

/**
 * BullMQ 6 fails a job whose workers died under it more than maxStalledCount times without running it: the stalled
 * check marks it, and the next worker to take it fails it at once. Nothing of the processor runs, so nothing it
 * records about the job's item happens either: the consumer is told (ConsumeOptions.onFailed), on real BullMQ.
 */
const tuning: QueueTuning = {
  lockDurationMs: 1000,
  stalledIntervalMs: 300,
  maxStalledCount: 0,
  attempts: 3,
  backoffMs: 10,
};
const ref = queueRefFor('cloud', 'stalling');

describe('JobQueue: a job failed by the stall limit (real Redis)', () => {
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const url = process.env.REDIS_URL!;
  const opened: Queue[] = [];
  const layer = () => {
    const bull = new Queue(queueName(ref), { connection: { url }, prefix: bullPrefix(prefix) });
    opened.push(bull);
    return new JobQueue(new Map([[queueName(ref), bull]]), { url }, prefix, tuning);
  };
  const layers: JobQueue[] = [];

  afterAll(async () => {
    await Promise.all(layers.map((l) => l.closeConsumers(1000)));
    await opened[0]?.obliterate({ force: true });
    await Promise.all(opened.map((q) => q.close()));
  });

  it('tells the next consumer the job failed for good, and why, without running it', async () => {
    // A worker that dies mid-item: its handler never returns, and it stops renewing the job's lock.
    let taken = false;
    const dying = new Worker(
      queueName(ref),
      () => {
        taken = true;
        return new Promise(() => undefined);
      },
      {
        connection: { url },
        prefix: bullPrefix(prefix),
        lockDuration: tuning.lockDurationMs,
        stalledInterval: tuning.stalledIntervalMs,
        maxStalledCount: tuning.maxStalledCount,
      },
    );
    const producer = layer();
    layers.push(producer);
    await producer.enqueue(ref, [
      {
        name: JobName.RunItem,
        jobId: 'b.0',
        data: {
          batchId: 'b',
          index: 0,
          itemId: 'i',
          kind: 'document-processing',
          sensitivity: 'internal',
          deadline: Date.now() + 60_000,
          input: 'x',
        },
      },
    ]);
    for (let waited = 0; !taken; waited += 20) {
      if (waited > 10_000) throw new Error('the job was never taken');
      await new Promise((r) => setTimeout(r, 20));
    }
    // Forced: its running job is left active in Redis, as a killed process leaves it.
    await dying.close(true);

    const next = layer();
    layers.push(next);
    const ran: string[] = [];
    const failed: Array<{ id: string; reason: string }> = [];
    next.consume(
      ref,
      async (job) => {
        ran.push(job.id);
        return {};
      },
      { concurrency: 1, onFailed: async (job, reason) => void failed.push({ id: job.id, reason }) },
    );
    for (let waited = 0; failed.length === 0; waited += 50) {
      if (waited > 15_000) throw new Error('the stalled job was never failed');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(failed).toEqual([{ id: 'b.0', reason: expect.stringMatching(/stalled more than allowable limit/) }]);
    expect(ran).toEqual([]);
    expect((await next.depth(ref)).failed).toBe(1);
  });
});

/**
 * A token quota's RateLimited pauses the whole queue (worker.rateLimit), not only the worker that hit it: BullMQ
 * honours the queue's rate limit only in workers that have a limiter, and without REQUESTS_PER_MINUTE they had none.
 */
describe('JobQueue: a rate limit one worker meets holds every worker of the queue (real Redis)', () => {
  const limited = queueRefFor('cloud', 'quota');
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const url = process.env.REDIS_URL!;
  const opened: Queue[] = [];
  const layers: JobQueue[] = [];
  const layer = () => {
    const bull = new Queue(queueName(limited), { connection: { url }, prefix: bullPrefix(prefix) });
    opened.push(bull);
    const l = new JobQueue(new Map([[queueName(limited), bull]]), { url }, prefix, tuning);
    layers.push(l);
    return l;
  };

  afterAll(async () => {
    await Promise.all(layers.map((l) => l.closeConsumers(1000)));
    await opened[0]?.obliterate({ force: true });
    await Promise.all(opened.map((q) => q.close()));
  });

  it('no worker takes a job while the quota waits', async () => {
    const taken: Array<{ by: string; id: string; at: number }> = [];
    let limitedAt = 0;
    const worker = (by: string) =>
      layer().consume(
        limited,
        async (job) => {
          taken.push({ by, id: job.id, at: Date.now() });
          if (limitedAt === 0) {
            limitedAt = Date.now();
            throw new RateLimited(1_500);
          }
          return {};
        },
        { concurrency: 1 },
      );
    worker('a');
    worker('b');
    const spec = (i: number) => ({
      name: JobName.RunItem,
      jobId: `q.${i}`,
      data: {
        batchId: 'q',
        index: i,
        itemId: `${i}`,
        kind: 'document-processing' as const,
        sensitivity: 'internal' as const,
        deadline: Date.now() + 60_000,
        input: 'x',
      },
    });
    await layers[0].enqueue(limited, [spec(0)]);
    for (let waited = 0; limitedAt === 0; waited += 20) {
      if (waited > 10_000) throw new Error('the first job was never taken');
      await new Promise((r) => setTimeout(r, 20));
    }
    // The wait is set on the queue as the job goes back: then more work comes, for both workers.
    await new Promise((r) => setTimeout(r, 200));
    await layers[0].enqueue(limited, [1, 2, 3].map(spec));
    for (let waited = 0; (await layers[0].depth(limited)).completed < 4; waited += 50) {
      if (waited > 15_000) throw new Error('the jobs did not complete');
      await new Promise((r) => setTimeout(r, 50));
    }
    // Nothing was taken, by either worker, before the quota's wait was over; then every job completed.
    expect(taken.slice(1).filter((t) => t.at < limitedAt + 1_400)).toEqual([]);
    expect(new Set(taken.map((t) => t.id))).toEqual(new Set(['q.0', 'q.1', 'q.2', 'q.3']));
  });
});

/**
 * A worker that loses a job's lock (its process stalled past the lock's duration, or the key went) is told so
 * (JobContext.lost) instead of running on beside the worker the stalled check gives the job to; a job whose lock
 * is renewed is never told, however long it runs.
 */
describe('JobQueue: a job whose lock its worker lost (real Redis)', () => {
  const losing = queueRefFor('cloud', 'losing');
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const url = process.env.REDIS_URL!;
  // Renewed every quarter of the lock's duration; a job found without its lock goes back to wait (once).
  const renewing: QueueTuning = { ...tuning, lockDurationMs: 1000, stalledIntervalMs: 500, maxStalledCount: 1 };
  const bull = new Queue(queueName(losing), { connection: { url }, prefix: bullPrefix(prefix) });
  const jobs = new JobQueue(new Map([[queueName(losing), bull]]), { url }, prefix, renewing);

  afterAll(async () => {
    await jobs.closeConsumers(1000);
    await bull.obliterate({ force: true });
    await bull.close();
  });

  const spec = (id: string) => ({
    name: JobName.RunItem,
    jobId: id,
    data: {
      batchId: 'l',
      index: 0,
      itemId: id,
      kind: 'document-processing' as const,
      sensitivity: 'internal' as const,
      deadline: Date.now() + 60_000,
      input: 'x',
    },
  });
  const until = async (what: string, done: () => boolean | Promise<boolean>, ms = 10_000) => {
    for (let waited = 0; !(await done()); waited += 25) {
      if (waited > ms) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  it('stops the run whose lock is gone, leaves the job to the stalled check, and runs it again once', async () => {
    const runs: Array<{ id: string; lost: boolean; lostAfterMs?: number }> = [];
    jobs.consume(
      losing,
      async (job) => {
        const run: (typeof runs)[number] = { id: job.id, lost: false };
        runs.push(run);
        // The first run of 'gone' waits for its answer until told the job is no longer its own; the rerun answers.
        if (job.id === 'kept') await new Promise((r) => setTimeout(r, 2_500));
        if (job.id === 'gone' && runs.filter((r) => r.id === 'gone').length === 1) {
          const started = Date.now();
          await new Promise<void>((resolve) => job.lost?.addEventListener('abort', () => resolve()));
          run.lostAfterMs = Date.now() - started;
          throw new LockLost();
        }
        run.lost = job.lost?.aborted ?? false;
        return {};
      },
      { concurrency: 2 },
    );
    // Runs two and a half lock durations on renewals: never told it lost the job.
    await jobs.enqueue(losing, [spec('kept')]);
    await jobs.enqueue(losing, [spec('gone')]);
    await until('both jobs started', () => runs.length === 2);
    // What a stall past the lock's duration leaves in Redis: the job active, its lock gone.
    const client = await bull.getBackend().client;
    expect(await client.del(`${bull.toKey('gone')}:lock`)).toBe(1);
    const firstGone = () => runs.find((r) => r.id === 'gone')!;
    await until('the run was told', () => firstGone().lostAfterMs !== undefined);
    await until('both jobs completed', async () => (await jobs.depth(losing)).completed === 2);
    expect(runs.filter((r) => r.id === 'kept')).toEqual([{ id: 'kept', lost: false }]);
    // Told at its next renewal (every 250 ms here); then run again from the queue, once, and not failed.
    expect(runs.filter((r) => r.id === 'gone')).toHaveLength(2);
    expect((await jobs.depth(losing)).failed).toBe(0);
  });
});
