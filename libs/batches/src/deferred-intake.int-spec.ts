import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { callbackEventId } from '#libs/callbacks';
import type { ProviderDirectory } from '#libs/pools';
import {
  CALLBACKS_QUEUE,
  INTAKE_QUEUE,
  InMemoryJobQueue,
  JobName,
  queueRefFor,
  type JobSpec,
  type QueueRef,
} from '#libs/queue';
import type { RepositoryGate } from '#libs/repositories';
import { RoutingPolicy, TokenCalibration, type ProviderView } from '#libs/routing';
import type { AuditEvent, AuditRecorder } from '#libs/audit';
import { BatchIntake, IdempotencyKeyReused, type IntakeStore } from './batch-intake.js';
import { BatchKeys } from './batch-keys.js';
import { BatchStore } from './batch-store.js';

/**
 * Issue 17 §2, on real Redis: a batch accepted on its validated body (`validating`) and expanded later
 * (BatchIntake.expand). A crash at any step of the expansion is healed by running it again, with every item
 * enqueued and audited, and the batch created once; a cancel asked for while it validates reaches every item
 * before any job exists; what the expansion refuses leaves the batch `failed`, with the field.
 */
const cloud: ProviderView = {
  target: 'cloud',
  name: 'frontier',
  model: 'big',
  clearance: 'internal',
  price: { inputPerMTokUsd: 0, outputPerMTokUsd: 0 },
  tokensPerSec: 500,
  concurrency: 8,
  backlogTokens: 0,
  latencyMs: 0,
};

/** A queue layer whose next `n` enqueues of item jobs fail, as a worker killed right there would leave it. */
class CrashingQueue extends InMemoryJobQueue {
  failItemEnqueues = 0;
  override async enqueue(queue: QueueRef, jobs: JobSpec[]): Promise<void> {
    if (jobs[0]?.name === JobName.RunItem && this.failItemEnqueues > 0) {
      this.failItemEnqueues -= 1;
      throw new Error('worker died before enqueuing');
    }
    return super.enqueue(queue, jobs);
  }
}

const body = (n: number, tag = 'doc') => ({
  kind: 'document-processing',
  sensitivity: 'public',
  deadline: 'PT1H',
  task: { type: 'summarize' },
  items: Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, text: `Minutes of meeting ${i}, in short.` })),
});

describe('deferred intake: accepted validating, expanded by a worker (real Redis)', () => {
  let redis: Redis;
  let store: BatchStore;
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const audited: AuditEvent[] = [];
  const audit = { record: async (events: AuditEvent[]) => void audited.push(...events) } as unknown as AuditRecorder;

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    store = new BatchStore(redis, prefix);
  });
  afterAll(async () => {
    await redis.quit();
  });

  const intakeOn = (jobs: InMemoryJobQueue, limits: { maxItems?: number; localModels?: string[] } = {}) =>
    new BatchIntake(
      store as unknown as IntakeStore,
      jobs,
      {
        routingState: async (now = Date.now()) => ({ now, providers: [cloud] }),
        calibration: async () => new TokenCalibration(),
      } as unknown as ProviderDirectory,
      new RoutingPolicy(),
      {
        maxItems: limits.maxItems ?? 100,
        maxOutputTokens: 128,
        localModels: limits.localModels ?? [],
        deferFromItems: 3,
      },
      { authorize: async () => '/nowhere' } as unknown as RepositoryGate,
      audit,
    );
  const itemJobs = (jobs: InMemoryJobQueue) =>
    jobs
      .jobs(queueRefFor('cloud', 'frontier'))
      .map((j) => ({ ...j, data: j.data as { batchId: string; itemId: string } }));
  const ownIdempotencyKeys = () => redis.keys(`*${prefix}:sy}:idem:intake:*`);

  it('answers validating with nothing written, then expands into exactly the items accepted', async () => {
    const jobs = new CrashingQueue();
    const intake = intakeOn(jobs);
    const acceptedAt = Date.now() - 5_000;
    const accepted = await intake.submit(body(5), undefined, acceptedAt, { defer: true, tenant: 'acme' });
    expect(accepted).toEqual({ id: expect.any(String), status: 'validating', total: 5, created: true });
    const { id } = accepted;
    expect(await store.exists(id)).toBe(false);
    expect(itemJobs(jobs)).toHaveLength(0);
    expect(jobs.jobs(INTAKE_QUEUE).map((j) => j.data)).toEqual([{ batchId: id }]);
    expect(await store.get(id)).toMatchObject({ id, status: 'validating', tenant: 'acme', counts: { total: 5 } });
    // Its own idempotency key guards the expansion: a retried expansion job finds the batch, not a second one.
    expect(await ownIdempotencyKeys()).toHaveLength(1);
    // Below the threshold, or without `defer`, a batch is expanded before the answer, as always.
    expect((await intake.submit(body(2), undefined, Date.now(), { defer: true })).status).toBe('queued');
    expect((await intake.submit(body(5), undefined)).status).toBe('queued');

    expect(await intake.expand(id)).toBe('expanded');
    const batch = await store.get(id);
    expect(batch).toMatchObject({ status: 'queued', tenant: 'acme', counts: { total: 5, queued: 5 } });
    // Created when it was accepted, its deadline an hour from then; routed when it was expanded.
    expect(batch!.createdAt).toBe(new Date(acceptedAt).toISOString());
    expect(Date.parse(batch!.deadline)).toBe(acceptedAt + 3_600_000);
    expect(itemJobs(jobs).filter((j) => j.data.batchId === id)).toHaveLength(5);
    expect(audited.filter((e) => e.batchId === id && e.kind === 'route')).toHaveLength(5);
    expect(await store.pending.exists(id)).toBe(false);
    expect(await ownIdempotencyKeys()).toEqual([]);
    expect(await intake.expand(id)).toBe('gone');
  });

  it('a worker that dies between writing the batch and enqueuing it: the retried expansion enqueues every item once', async () => {
    const jobs = new CrashingQueue();
    const intake = intakeOn(jobs);
    const { id } = await intake.submit(body(4, 'crash'), undefined, Date.now(), { defer: true });
    jobs.failItemEnqueues = 1;
    await expect(intake.expand(id)).rejects.toThrow('worker died before enqueuing');
    expect(await store.exists(id)).toBe(true);
    expect(await store.pending.exists(id)).toBe(true);
    expect(itemJobs(jobs).filter((j) => j.data.batchId === id)).toHaveLength(0);

    expect(await intake.expand(id)).toBe('expanded');
    expect(
      itemJobs(jobs)
        .filter((j) => j.data.batchId === id)
        .map((j) => j.data.itemId),
    ).toEqual(body(4, 'crash').items.map((i) => i.id));
    expect(await store.get(id)).toMatchObject({ counts: { total: 4, queued: 4 } });
    // Audited before any job existed, and again on the resumed attempt: a route recorded twice beats one missing.
    const routes = audited.filter((e) => e.batchId === id && e.kind === 'route');
    expect(new Set(routes.map((e) => e.index))).toEqual(new Set([0, 1, 2, 3]));
  });

  it('the same Idempotency-Key and body answer the same batch at every stage; another body under it is refused', async () => {
    const jobs = new CrashingQueue();
    const intake = intakeOn(jobs);
    const first = await intake.submit(body(3, 'idem'), 'key-1', Date.now(), { defer: true });
    const again = await intake.submit(body(3, 'idem'), 'key-1', Date.now(), { defer: true });
    expect(again).toEqual({ id: first.id, status: 'validating', total: 3, created: false });
    await expect(intake.submit(body(3, 'other'), 'key-1', Date.now(), { defer: true })).rejects.toThrow(
      IdempotencyKeyReused,
    );
    expect(jobs.jobs(INTAKE_QUEUE)).toHaveLength(1);
    await intake.expand(first.id);
    const after = await intake.submit(body(3, 'idem'), 'key-1', Date.now(), { defer: true });
    expect(after).toMatchObject({ id: first.id, created: false });
    expect(itemJobs(jobs).filter((j) => j.data.batchId === first.id)).toHaveLength(3);
    // The client's key stays theirs, for its week.
    expect(await store.findByIdempotencyKey('key-1')).toMatchObject({ id: first.id });
  });

  it('a cancel while validating reaches every item before any job exists; one after the batch is written cancels it as any', async () => {
    const jobs = new CrashingQueue();
    const intake = intakeOn(jobs);
    const { id } = await intake.submit(body(4, 'cancel'), undefined, Date.now(), { defer: true });
    expect(await intake.cancel(id)).toEqual({ cancelled: 4 });
    expect(await intake.expand(id)).toBe('expanded');
    expect(await store.get(id)).toMatchObject({ status: 'cancelled', counts: { total: 4, cancelled: 4, queued: 0 } });

    // Written, its enqueue not done (the crash above): the cancel goes to the batch, not the pending record.
    const second = await intake.submit(body(4, 'late-cancel'), undefined, Date.now(), { defer: true });
    jobs.failItemEnqueues = 1;
    await expect(intake.expand(second.id)).rejects.toThrow();
    expect(await store.pending.requestCancel(second.id)).toBe(false);
    expect(await intake.cancel(second.id)).toEqual({ cancelled: 4 });
    expect(await store.get(second.id)).toMatchObject({ status: 'cancelled' });
    expect(await intake.cancel(randomUUID())).toBeNull();
  });

  it('what the expansion refuses leaves the batch failed with the field, without its body; size limits are the API’s', async () => {
    const api = intakeOn(new CrashingQueue(), { localModels: ['tiny'], maxItems: 10 });
    const callback = { url: 'https://hooks.example.com/switchyard' };
    const pinned = { ...body(3, 'pinned'), model: 'tiny', callback };
    const { id } = await api.submit(pinned, undefined, Date.now(), { defer: true });
    expect((await store.get(id))?.callback).toEqual({ url: callback.url, events: ['batch.finished'] });
    // A worker configured without that model (and with a smaller MAX_ITEMS_PER_BATCH, which must not matter).
    const workerJobs = new CrashingQueue();
    const worker = intakeOn(workerJobs, { maxItems: 1 });
    expect(await worker.expand(id)).toBe('failed');
    const failed = await store.get(id);
    expect(failed).toMatchObject({ status: 'failed', counts: { total: 3 }, finishedAt: expect.any(String) });
    // Its callback still hears of the end: the deliverer reads the failed batch as any reader does.
    expect(failed!.callback).toEqual({ url: callback.url, events: ['batch.finished'] });
    expect(workerJobs.jobs(CALLBACKS_QUEUE).map((j) => [j.id, j.data])).toEqual([
      [callbackEventId(id, 'batch.finished'), { batchId: id, event: 'batch.finished' }],
    ]);
    expect(failed!.errors?.[0].field).toBe('model');
    expect(await redis.hexists(`${prefix}:sy:intake:{${id}}`, 'body')).toBe(0);
    // Kept a week to be read, and off the sweep's list.
    expect(await redis.ttl(`${prefix}:sy:intake:{${id}}`)).toBeGreaterThan(6 * 86_400);
    expect((await store.pending.listed()).map((l) => l.id)).not.toContain(id);
    expect(await ownIdempotencyKeys()).not.toContain(`{${prefix}:sy}:idem:intake:${id}`);
    expect(await worker.expand(id)).toBe('failed');

    const big = await api.submit(body(5, 'sized'), undefined, Date.now(), { defer: true });
    expect(await worker.expand(big.id)).toBe('expanded');

    // An expansion that died after recording the failure, before enqueuing the callback: the sweep owes it.
    const died = await api.submit({ ...pinned, items: body(3, 'died').items }, undefined, Date.now(), { defer: true });
    await store.pending.fail(died.id, [{ field: 'model', message: 'unknown here' }]);
    const sweeper = new CrashingQueue();
    expect((await intakeOn(sweeper).requeuePending()).dropped).toBeGreaterThanOrEqual(1);
    expect(sweeper.jobs(CALLBACKS_QUEUE).map((j) => j.id)).toContain(callbackEventId(died.id, 'batch.finished'));
    expect((await store.pending.listed()).map((l) => l.id)).not.toContain(died.id);
  });

  it('an expansion whose job spent its attempts is requeued by the sweep and runs; an accepted body never expires', async () => {
    // What the tests above left mid-expansion (a crash after the batch was written) is finished first.
    for (const { id } of await store.pending.listed())
      expect(await intakeOn(new CrashingQueue()).expand(id)).toBe('expanded');
    let clock = Date.now();
    const jobs = new CrashingQueue({ now: () => clock });
    const intake = intakeOn(jobs);
    const { id } = await intake.submit(body(3, 'sweep'), 'sweep-key', clock, { defer: true });
    const record = `${prefix}:sy:intake:{${id}}`;
    expect(await redis.ttl(record)).toBe(-1);
    let away = true;
    jobs.consume<JobName.ExpandBatch>(
      INTAKE_QUEUE,
      async (job) => {
        if (away) throw new Error('Redis away');
        return intake.expand(job.data.batchId);
      },
      { concurrency: 1 },
    );
    for (let attempt = 0; attempt < 3; attempt += 1) {
      clock += 60_000;
      await jobs.runNext(INTAKE_QUEUE);
    }
    expect(jobs.job(INTAKE_QUEUE, `expand.${id}`)).toMatchObject({ state: 'failed', attemptsMade: 3 });
    expect(await store.get(id)).toMatchObject({ status: 'validating' });

    // Meanwhile the client's key expired (a week passed) and they reused it for another batch.
    await redis.del(`{${prefix}:sy}:idem:sweep-key`);
    const other = await intake.submit(body(2, 'reuse'), 'sweep-key', clock);
    expect(other.id).not.toBe(id);

    away = false;
    expect(await intake.requeuePending(clock)).toEqual({ requeued: 1, dropped: 0 });
    expect(jobs.job(INTAKE_QUEUE, `expand.${id}`)).toMatchObject({ state: 'waiting', attemptsMade: 0 });
    await jobs.runNext(INTAKE_QUEUE);
    expect(jobs.job(INTAKE_QUEUE, `expand.${id}`)).toMatchObject({ state: 'completed', returnValue: 'expanded' });
    // The batch the 202 named, with every item; the other batch keeps the key.
    expect(await store.get(id)).toMatchObject({ status: 'queued', counts: { total: 3, queued: 3 } });
    expect(itemJobs(jobs).filter((j) => j.data.batchId === id)).toHaveLength(3);
    expect(await store.findByIdempotencyKey('sweep-key')).toMatchObject({ id: other.id });
    expect(await ownIdempotencyKeys()).toEqual([]);
    expect(await intake.requeuePending(clock)).toEqual({ requeued: 0, dropped: 0 });

    // Listed a moment before its record is written (or its staging died before the 202): dropped after a minute.
    await redis.zadd(new BatchKeys(prefix).pendingIntakes(), clock, 'ghost');
    expect(await intake.requeuePending(clock + 30_000)).toEqual({ requeued: 0, dropped: 0 });
    expect(await intake.requeuePending(clock + 61_000)).toEqual({ requeued: 0, dropped: 1 });
    expect(await store.pending.listed()).toEqual([]);
  });
});
