import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { BatchStore, type BatchIntake } from '#libs/batches';
import type { QueueTuning } from '#libs/config';
import { InMemoryJobQueue, SCHEDULES_QUEUE } from '#libs/queue';
import { ScheduleService, ScheduleStore } from '#libs/schedules';
import { ScheduleRunner } from './schedule-runner.js';

const tuning: QueueTuning = {
  lockDurationMs: 5000,
  stalledIntervalMs: 1000,
  maxStalledCount: 1,
  attempts: 3,
  backoffMs: 10,
};
const template = {
  kind: 'document-processing',
  sensitivity: 'internal',
  deadline: 'PT1H',
  task: { type: 'summarize' },
  items: [{ id: 'report', text: 'Numbers of the day.' }],
};
const HOUR = 3_600_000;

/**
 * The worker's side of schedules on real Redis (the schedule's records) and the queue layer's fake (its clock):
 * what a firing records, slot by slot, when its first attempts fail and a retry submits.
 */
describe('ScheduleRunner (real Redis, the fake queue)', () => {
  let redis: Redis;
  let clock: number;
  let jobs: InMemoryJobQueue;
  let schedules: ScheduleService;
  /** What the intake does with the next submissions: throw, or accept under an id. */
  const answers: Array<Error | string> = [];
  const submitted: string[] = [];

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    const prefix = `t-${randomUUID().slice(0, 8)}`;
    clock = Date.UTC(2026, 11, 7, 1, 0, 0);
    jobs = new InMemoryJobQueue({ tuning, now: () => clock });
    const limits = { maxItems: 10, maxOutputTokens: 512, localModels: [] };
    schedules = new ScheduleService(new ScheduleStore(redis, prefix), jobs, limits, new BatchStore(redis, prefix));
    const intake = {
      submit: async (_body: unknown, key: string) => {
        const answer = answers.shift() ?? 'batch';
        if (answer instanceof Error) throw answer;
        submitted.push(key);
        return { id: `${answer}-${submitted.length}` };
      },
    } as unknown as BatchIntake;
    new ScheduleRunner(jobs, schedules, intake).start();
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('records each slot as the time it was due, and a firing retried into a batch as that batch, not its error', async () => {
    await schedules.upsert({ name: 'nightly', cron: '0 2 * * *', tz: 'UTC', batch: template }, clock);
    // 02:00 comes; the first attempt fails as a Redis blip would, the retry after its backoff submits.
    answers.push(new Error('connection lost'));
    clock = Date.UTC(2026, 11, 7, 2, 0, 0);
    await jobs.drain();
    clock += 1000;
    await jobs.drain();
    const view = (await schedules.get('nightly'))!;
    expect(view.runs).toEqual([
      expect.objectContaining({ slot: '2026-12-07T02:00:00.000Z', batchId: 'batch-1', skippedUnchanged: 0 }),
    ]);
    expect(view.runs[0]).not.toHaveProperty('error');
    // Fired late (the workers were away until 09:00): the slot still says 02:00.
    clock = Date.UTC(2026, 11, 8, 9, 0, 0);
    await jobs.drain();
    expect((await schedules.get('nightly'))!.runs[0]).toMatchObject({ slot: '2026-12-08T02:00:00.000Z' });
    // One batch per slot, keyed by the slot.
    expect(submitted).toEqual([
      `schedule:nightly:${Date.UTC(2026, 11, 7, 2)}`,
      `schedule:nightly:${Date.UTC(2026, 11, 8, 2)}`,
    ]);
    await schedules.delete('nightly');
  });

  it('records the error once every attempt has failed', async () => {
    await schedules.upsert({ name: 'failing', cron: '0 3 * * *', tz: 'UTC', batch: template }, clock);
    answers.push(new Error('git: spawn failed'), new Error('git: spawn failed'), new Error('git: spawn failed'));
    clock = Date.UTC(2026, 11, 9, 3, 0, 0);
    for (let i = 0; i < 3; i++) {
      await jobs.drain();
      clock += HOUR;
    }
    const runs = (await schedules.get('failing'))!.runs;
    expect(runs).toEqual([
      expect.objectContaining({ slot: '2026-12-09T03:00:00.000Z', batchId: null, error: 'git: spawn failed' }),
    ]);
    expect(jobs.jobs(SCHEDULES_QUEUE).filter((j) => j.state === 'failed')).toHaveLength(1);
  });
});
