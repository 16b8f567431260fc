import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { QueueTuning } from '#libs/config';
import type { WorkItem } from '#libs/domain';
import { bullPrefix } from './bull-prefix.js';
import { InMemoryJobQueue } from './in-memory-job-queue.js';
import { PermanentJobError, Preempted, RateLimited } from './job-errors.js';
import { JobQueue } from './job-queue.js';
import type { ConsumerHandle, QueueLayer } from './queue-layer.js';
import { JobName, MAINTENANCE_QUEUE, SCHEDULES_QUEUE, queueName, queueRefFor, type QueueRef } from './queue-names.js';

const tuning: QueueTuning = {
  lockDurationMs: 5000,
  stalledIntervalMs: 1000,
  maxStalledCount: 1,
  attempts: 2,
  backoffMs: 10,
};
const local = queueRefFor('local', 'tiny');
const cloud = queueRefFor('cloud', 'frontier');
/** Used by one test alone, so its counts are its own. */
const retried = queueRefFor('local', 'retried');
const QUEUES: QueueRef[] = [
  local,
  cloud,
  retried,
  queueRefFor('local', 'preempting'),
  queueRefFor('local', 'deferring'),
  MAINTENANCE_QUEUE,
  SCHEDULES_QUEUE,
];
const item = (index: number): WorkItem => ({
  batchId: 'b',
  index,
  itemId: `i${index}`,
  kind: 'document-processing',
  sensitivity: 'internal',
  deadline: 0,
  input: 'x',
});
const run = (index: number, priority?: number, delayMs?: number) => ({
  name: JobName.RunItem as const,
  data: item(index),
  jobId: `b.${index}`,
  priority,
  delayMs,
});

/** One implementation under test: the queue layer, and how to let its consumers finish what is due. */
interface Harness {
  jobs: QueueLayer;
  /** Lets consumers take every job that is due or comes due (retries after backoff included). */
  settle(queue: QueueRef): Promise<void>;
  /** Lets `ms` pass on the implementation's clock. */
  pass(ms: number): Promise<void>;
  /** Lets consumers run, time passing, until `done()` (at most 15 s of real time, or 1,000 steps of the fake's). */
  runUntil(done: () => boolean): Promise<void>;
  close(): Promise<void>;
}

function inMemory(): Harness {
  let clock = 1_000_000;
  const jobs = new InMemoryJobQueue({ queues: QUEUES, tuning, now: () => clock });
  return {
    jobs,
    settle: async () => {
      // Backoffs and pauses pass on the fake clock: a minute is more than any of them here.
      for (let i = 0; i < 10; i += 1) {
        await jobs.drain();
        clock += 60_000;
      }
    },
    pass: async (ms) => {
      clock += ms;
    },
    runUntil: async (done) => {
      for (let i = 0; i < 1000 && !done(); i += 1) {
        await jobs.drain();
        if (!done()) clock += 50;
      }
    },
    close: async () => undefined,
  };
}

function bullmq(): Harness {
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const url = process.env.REDIS_URL!;
  const queues = new Map(
    QUEUES.map((ref) => [
      queueName(ref),
      new Queue(queueName(ref), { connection: { url }, prefix: bullPrefix(prefix) }),
    ]),
  );
  const jobs = new JobQueue(queues, { url }, prefix, tuning);
  return {
    jobs,
    settle: async (queue) => {
      for (let waited = 0; waited < 15_000; waited += 50) {
        const d = await jobs.depth(queue);
        if (d.waiting + d.active + d.delayed + d.prioritized === 0) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('jobs did not settle');
    },
    pass: (ms) => new Promise((r) => setTimeout(r, ms)),
    runUntil: async (done) => {
      for (let waited = 0; waited < 15_000 && !done(); waited += 50) await new Promise((r) => setTimeout(r, 50));
    },
    close: async () => {
      await jobs.closeConsumers(2000);
      await Promise.all([...queues.values()].map((q) => q.obliterate({ force: true }).then(() => q.close())));
    },
  };
}

/**
 * The same expectations for both: what InMemoryJobQueue promises is checked against BullMQ itself, so a
 * unit test passing on the fake says something about the real queue.
 */
describe.each([
  ['InMemoryJobQueue', inMemory],
  ['JobQueue (BullMQ, real Redis)', bullmq],
])('%s', (_name, make) => {
  let h: Harness;
  const consumers: ConsumerHandle[] = [];
  beforeAll(() => {
    h = make();
  });
  afterAll(async () => {
    await Promise.all(consumers.map((c) => c.close(1000)));
    await h.close();
  });

  it('adds a job once however often its id is enqueued, and counts it by state', async () => {
    await h.jobs.enqueue(local, [run(0, 5), run(1, 5), run(2, 5, 60_000)]);
    await h.jobs.enqueue(local, [run(0, 5)]);
    expect(await h.jobs.depth(local)).toEqual({
      waiting: 0,
      active: 0,
      delayed: 1,
      prioritized: 2,
      completed: 0,
      failed: 0,
    });
  });

  it('lists waiting jobs in the order they run: priority first, then arrival', async () => {
    await h.jobs.enqueue(local, [run(3, 1), run(4, 5)]);
    expect((await h.jobs.waiting(local, 10)).map((j) => j.id)).toEqual(['b.3', 'b.0', 'b.1', 'b.4']);
    expect((await h.jobs.waiting(local, 2)).map((j) => j.id)).toEqual(['b.3', 'b.0']);
  });

  it('lists the waiting ids in that order without their payloads, and reads payloads by id: null once gone', async () => {
    expect(await h.jobs.waitingIds(local, 10)).toEqual(['b.3', 'b.0', 'b.1', 'b.4']);
    expect(await h.jobs.waitingIds(local, 2)).toEqual(['b.3', 'b.0']);
    expect(await h.jobs.payloads<JobName.RunItem>(local, ['b.3', 'nope'])).toEqual([item(3), null]);
    expect(await h.jobs.running(local, 10)).toEqual([]);
  });

  it('gives a waiting job another priority, behind the jobs already waiting with it; not one that is not waiting', async () => {
    const deferring = queueRefFor('local', 'deferring');
    await h.jobs.enqueue(deferring, [run(0, 5), run(1, 5), run(2, 7), run(3, 9, 60_000)]);
    const order = async () => (await h.jobs.waiting(deferring, 10)).map((j) => `${j.id}@${j.priority}`);
    expect(await order()).toEqual(['b.0@5', 'b.1@5', 'b.2@7']);
    expect(await h.jobs.reprioritize(deferring, 'b.0', 7)).toBe(true);
    expect(await order()).toEqual(['b.1@5', 'b.2@7', 'b.0@7']);
    expect(await h.jobs.reprioritize(deferring, 'nope', 3)).toBe(false);
    // Delayed (a retry's backoff) is not waiting: it keeps its priority.
    expect(await h.jobs.reprioritize(deferring, 'b.3', 1)).toBe(false);
    const taken: Array<[string, number | undefined]> = [];
    consumers.push(
      h.jobs.consume<JobName.RunItem>(
        deferring,
        async (job) => {
          taken.push([job.id, job.priority]);
          return { outcome: 'completed' };
        },
        { concurrency: 1 },
      ),
    );
    await h.jobs.removeWaiting(deferring, 'b.3');
    await h.settle(deferring);
    expect(taken).toEqual([
      ['b.1', 5],
      ['b.2', 7],
      ['b.0', 7],
    ]);
  });

  it('removes only a job that has not started', async () => {
    expect(await h.jobs.removeWaiting(local, 'b.1')).toBe(true);
    expect(await h.jobs.removeWaiting(local, 'b.2')).toBe(true); // delayed
    expect(await h.jobs.removeWaiting(local, 'b.1')).toBe(false);
    expect(await h.jobs.removeWaiting(local, 'nope')).toBe(false);
    expect((await h.jobs.waiting(local, 10)).map((j) => j.id)).toEqual(['b.3', 'b.0', 'b.4']);
  });

  it('knows only the queues it was configured with', async () => {
    expect(h.jobs.has(local)).toBe(true);
    expect(h.jobs.has(queueRefFor('cloud', 'unknown'))).toBe(false);
    await expect(h.jobs.enqueue(queueRefFor('cloud', 'unknown'), [run(9)])).rejects.toThrow(
      'no queue inference-cloud.unknown: provider "unknown" is not configured',
    );
  });

  it('keeps one Job Scheduler per id: upserted, its next run known, removed once', async () => {
    expect(await h.jobs.nextRun(SCHEDULES_QUEUE, 'nightly')).toBeNull();
    await h.jobs.schedule(
      SCHEDULES_QUEUE,
      'nightly',
      { pattern: '0 0 3 * * *', tz: 'Europe/Paris' },
      JobName.FireSchedule,
      { schedule: 'nightly' },
    );
    await h.jobs.schedule(
      SCHEDULES_QUEUE,
      'nightly',
      { pattern: '0 0 3 * * *', tz: 'Europe/Paris' },
      JobName.FireSchedule,
      { schedule: 'nightly' },
    );
    const next = await h.jobs.nextRun(SCHEDULES_QUEUE, 'nightly');
    expect(next).not.toBeNull();
    expect(new Date(next!).toLocaleTimeString('en-GB', { timeZone: 'Europe/Paris' })).toBe('03:00:00');
    expect((await h.jobs.depth(SCHEDULES_QUEUE)).delayed).toBe(1);
    expect(await h.jobs.unschedule(SCHEDULES_QUEUE, 'nightly')).toBe(true);
    expect(await h.jobs.unschedule(SCHEDULES_QUEUE, 'nightly')).toBe(false);
    expect(await h.jobs.nextRun(SCHEDULES_QUEUE, 'nightly')).toBeNull();
    expect((await h.jobs.depth(SCHEDULES_QUEUE)).delayed).toBe(0);
  });

  it("gives a Job Scheduler's job the slot it was made for, not the time it was made", async () => {
    const seen: Array<{ slot?: number; timestamp: number }> = [];
    consumers.push(
      h.jobs.consume<JobName.FireSchedule>(
        SCHEDULES_QUEUE,
        async (job) => void seen.push({ slot: job.slot, timestamp: job.timestamp }),
        { concurrency: 1 },
      ),
    );
    await h.jobs.schedule(SCHEDULES_QUEUE, 'slots', { every: 400 }, JobName.FireSchedule, { schedule: 'slots' });
    await h.runUntil(() => seen.length >= 3);
    await h.jobs.unschedule(SCHEDULES_QUEUE, 'slots');
    const [first, second, third] = seen;
    expect([second.slot! - first.slot!, third.slot! - second.slot!]).toEqual([400, 400]);
    // The job for a slot is made when the slot before starts: its timestamp says that, not the slot.
    expect(second.timestamp).toBeLessThan(second.slot!);
  });

  it('runs each job through its consumer: completed, retried until its attempts are spent, or failed at once when permanent', async () => {
    const seen: string[] = [];
    const failedForGood: string[] = [];
    let limited = false;
    consumers.push(
      h.jobs.consume<JobName.RunItem>(
        cloud,
        async (job) => {
          seen.push(`${job.id}#${job.attempt}${job.isLastAttempt ? ' last' : ''}`);
          if (job.data.index === 1) throw new Error('provider down');
          if (job.data.index === 2) throw new PermanentJobError('bad input');
          if (job.data.index === 3 && !limited) {
            limited = true;
            throw new RateLimited(20);
          }
          return { outcome: 'completed' };
        },
        {
          concurrency: 1,
          onFailed: async (job, reason) => void failedForGood.push(`${job.id} ${reason}`),
        },
      ),
    );
    await h.jobs.enqueue(cloud, [run(0), run(1), run(2), run(3)]);
    await h.settle(cloud);
    // Told once per job that failed for good, after its last attempt; not for an attempt that is retried.
    await h.runUntil(() => failedForGood.length >= 2);
    expect(failedForGood.sort()).toEqual(['b.1 provider down', 'b.2 bad input']);
    expect(await h.jobs.depth(cloud)).toEqual({
      waiting: 0,
      active: 0,
      delayed: 0,
      prioritized: 0,
      completed: 2,
      failed: 2,
    });
    // A rate-limited job is taken again without spending an attempt; a failed one is retried up to `attempts`.
    expect([...seen].sort()).toEqual(['b.0#1', 'b.1#1', 'b.1#2 last', 'b.2#1', 'b.3#1', 'b.3#1'].sort());
  });

  it('puts a preempted job back with its priority, taken again without spending an attempt, after the job due sooner', async () => {
    const seen: string[] = [];
    let preempted = false;
    const preempting = queueRefFor('local', 'preempting');
    consumers.push(
      h.jobs.consume<JobName.RunItem>(
        preempting,
        async (job) => {
          seen.push(`${job.id}#${job.attempt}${job.data.answered ? ' resumed' : ''}`);
          if (job.data.index === 5 && !preempted) {
            preempted = true;
            // The job due sooner arrives while this one runs; this one gives way, keeping what its run learned.
            await h.jobs.enqueue(preempting, [run(6, 10)]);
            const answered = [{ key: 'k', text: 'part one', model: 'tiny', finishReason: 'stop' as const }];
            throw new Preempted({ ...job.data, answered });
          }
          return { outcome: 'completed' };
        },
        { concurrency: 1 },
      ),
    );
    await h.jobs.enqueue(preempting, [run(5, 20)]);
    await h.settle(preempting);
    expect(seen).toEqual(['b.5#1', 'b.6#1', 'b.5#1 resumed']);
    expect(await h.jobs.depth(preempting)).toMatchObject({ completed: 2, failed: 0, waiting: 0, prioritized: 0 });
  });

  it('grants a claim on a job to one caller until it expires, per job and per what is claimed', async () => {
    const claims = await Promise.all([1, 2, 3].map(() => h.jobs.claim(local, 'b.0', 'preempt', 300)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await h.jobs.claim(local, 'b.1', 'preempt', 300)).toBe(true);
    expect(await h.jobs.claim(local, 'b.0', 'other', 300)).toBe(true);
    expect(await h.jobs.claim(local, 'b.0', 'preempt', 300)).toBe(false);
    await h.pass(350);
    expect(await h.jobs.claim(local, 'b.0', 'preempt', 300)).toBe(true);
  });

  it('requeues a job whose attempts are spent (reset), adds a completed or unknown one anew, leaves one waiting', async () => {
    await h.jobs.enqueue(retried, [run(7), run(8)]);
    expect(await h.jobs.requeue(retried, run(8))).toBe('present');
    expect(await h.jobs.requeue(retried, run(9))).toBe('added');
    expect((await h.jobs.depth(retried)).waiting).toBe(3);
    const seen: string[] = [];
    let down = true;
    consumers.push(
      h.jobs.consume<JobName.RunItem>(
        retried,
        async (job) => {
          seen.push(`${job.id}#${job.attempt}`);
          if (down && job.data.index === 7) throw new Error('Redis away');
          return 'done';
        },
        { concurrency: 1 },
      ),
    );
    await h.settle(retried);
    expect(await h.jobs.depth(retried)).toMatchObject({ completed: 2, failed: 1 });
    // Enqueueing a failed job's id again adds nothing: a sweep needs requeue to run it again.
    await h.jobs.enqueue(retried, [run(7)]);
    expect((await h.jobs.depth(retried)).failed).toBe(1);
    down = false;
    expect(await h.jobs.requeue(retried, run(7))).toBe('retried');
    await h.settle(retried);
    expect(await h.jobs.requeue(retried, run(7))).toBe('added');
    await h.settle(retried);
    expect(await h.jobs.depth(retried)).toMatchObject({ completed: 3, failed: 0 });
    expect(seen.filter((s) => s.startsWith('b.7#'))).toEqual(['b.7#1', 'b.7#2', 'b.7#1', 'b.7#1']);
  });
});

describe('JobQueue (BullMQ, real Redis) consumers', () => {
  it('forgets a consumer once it is closed: pausing and resuming a pool many times holds no handle per time', async () => {
    const h = bullmq();
    const q = h.jobs as JobQueue;
    try {
      for (let i = 0; i < 3; i++) {
        const c = q.consume<JobName.RunItem>(cloud, async () => ({ outcome: 'completed' }), { concurrency: 1 });
        expect(q.openConsumers).toBe(1);
        await c.close(1000);
        expect(q.openConsumers).toBe(0);
      }
    } finally {
      await h.close();
    }
  });
});

describe('InMemoryJobQueue runs only what the test lets it', () => {
  it('holds a delayed job until its time, and an `every` scheduler fires at once, then each interval', async () => {
    let clock = 0;
    const jobs = new InMemoryJobQueue({ tuning, now: () => clock });
    const fired: number[] = [];
    jobs.consume<JobName.EscalationSweep>(MAINTENANCE_QUEUE, async (job) => void fired.push(job.slot!), {
      concurrency: 1,
    });
    await jobs.schedule(MAINTENANCE_QUEUE, 'sweep', { every: 1000 }, JobName.EscalationSweep, {});
    expect(await jobs.drain()).toBe(1);
    expect(await jobs.drain()).toBe(0);
    expect(await jobs.nextRun(MAINTENANCE_QUEUE, 'sweep')).toBe(1000);
    clock = 1000;
    expect(await jobs.drain()).toBe(1);
    expect(fired).toEqual([0, 1000]);

    await jobs.enqueue(local, [run(0, 1, 500)]);
    jobs.consume<JobName.RunItem>(local, async () => 'done', { concurrency: 1 });
    expect(await jobs.runNext(local)).toBeNull();
    clock += 500;
    expect((await jobs.runNext(local))?.returnValue).toBe('done');
    expect(jobs.job(local, 'b.0')?.state).toBe('completed');
  });
});
