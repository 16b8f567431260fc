import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { QueueTuning } from '#libs/config';
import { bullPrefix } from './bull-prefix.js';
import { BULL_SETTINGS } from './cron-slots.js';
import { JobQueue } from './job-queue.js';
import type { ConsumerHandle } from './queue-layer.js';
import { JobName, SCHEDULES_QUEUE, queueName } from './queue-names.js';

const tuning: QueueTuning = {
  lockDurationMs: 5000,
  stalledIntervalMs: 1000,
  maxStalledCount: 1,
  attempts: 1,
  backoffMs: 10,
};
// 2027-10-31: Berlin's clocks go back from 03:00 CEST to 02:00 CET at 01:00 UTC, so 02:30 comes at 00:30Z and 01:30Z.
const FIRST_0230 = Date.UTC(2027, 9, 31, 0, 30);
const NEXT_NIGHT_0230 = Date.UTC(2027, 10, 1, 1, 30);
const NIGHTLY = { pattern: '30 2 * * *', tz: 'Europe/Berlin' };

/**
 * A nightly Job Scheduler on real BullMQ and Redis, on the night the clocks go back: BullMQ reads the time from
 * Date.now, which the test sets (timers stay real).
 */
describe('a cron Job Scheduler on the night the clocks go back (BullMQ, real Redis)', () => {
  let clock = 0;
  let queue: Queue;
  let jobs: JobQueue;
  const consumers: ConsumerHandle[] = [];

  beforeAll(() => {
    jest.spyOn(Date, 'now').mockImplementation(() => clock);
    const url = process.env.REDIS_URL!;
    const prefix = `t-${randomUUID().slice(0, 8)}`;
    const name = queueName(SCHEDULES_QUEUE);
    // As QueueModule opens it.
    queue = new Queue(name, { connection: { url }, prefix: bullPrefix(prefix), settings: BULL_SETTINGS });
    jobs = new JobQueue(new Map([[name, queue]]), { url }, prefix, tuning);
  });
  afterEach(async () => {
    await Promise.all(consumers.splice(0).map((c) => c.close(2000)));
    await jobs.unschedule(SCHEDULES_QUEUE, 'nightly');
  });
  afterAll(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    jest.restoreAllMocks();
  });

  it('fires 02:30 once when its worker takes the 02:30 CEST slot late, in the repeated hour', async () => {
    clock = Date.UTC(2027, 9, 31, 0, 0);
    await jobs.schedule(SCHEDULES_QUEUE, 'nightly', NIGHTLY, JobName.FireSchedule, { schedule: 'nightly' });
    expect(await jobs.nextRun(SCHEDULES_QUEUE, 'nightly')).toBe(FIRST_0230);
    // The workers are back at 02:10 CET (01:10Z): the 02:30 CEST slot runs then, late, and the next slot is made.
    clock = Date.UTC(2027, 9, 31, 1, 10);
    const slots: number[] = [];
    consumers.push(
      jobs.consume<JobName.FireSchedule>(SCHEDULES_QUEUE, async (job) => void slots.push(job.slot!), {
        concurrency: 1,
      }),
    );
    for (let waited = 0; waited < 15_000 && slots.length === 0; waited += 50)
      await new Promise((r) => setTimeout(r, 50));
    expect(slots).toEqual([FIRST_0230]);
    // Not 01:30Z, 02:30 CET: the same nightly run an hour after the first.
    expect(new Date((await jobs.nextRun(SCHEDULES_QUEUE, 'nightly'))!).toISOString()).toBe(
      new Date(NEXT_NIGHT_0230).toISOString(),
    );
  });

  it('does not fire 02:30 again when the schedule is replaced in the repeated hour', async () => {
    // 02:10 CET, after 02:30 CEST fired: a deploy upserts every schedule again.
    clock = Date.UTC(2027, 9, 31, 1, 10);
    await jobs.schedule(SCHEDULES_QUEUE, 'nightly', NIGHTLY, JobName.FireSchedule, { schedule: 'nightly' });
    expect(new Date((await jobs.nextRun(SCHEDULES_QUEUE, 'nightly'))!).toISOString()).toBe(
      new Date(NEXT_NIGHT_0230).toISOString(),
    );
  });
});
