import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig, type AppConfig } from '#libs/config';
import { BatchStore } from '#libs/batches';
import type { WorkItem } from '#libs/domain';
import {
  configuredQueues,
  deadlinePriority,
  itemJobId,
  JobName,
  JobQueue,
  queueName,
  queueRefFor,
  bullPrefix,
} from '#libs/queue';
import { CircuitRegistry } from './circuit-registry.js';
import { PoolRegistry, type PoolHeartbeat } from './pool-registry.js';
import { ProviderDirectory } from './provider-directory.js';
import { workTokens } from '#libs/routing';
import { globalKeyPrefix } from '#libs/redis';

/** A pool's heartbeat as a worker writes it; each test names what matters to it. */
function heartbeat(
  fields: Pick<PoolHeartbeat, 'id' | 'target' | 'provider' | 'model' | 'queue' | 'device'> & Partial<PoolHeartbeat>,
): PoolHeartbeat {
  return {
    host: 'h',
    pid: 1,
    deviceNames: [],
    memory: null,
    modelBytes: null,
    reason: '',
    sequences: 4,
    activeSequences: 4,
    busy: 0,
    startedAt: Date.now(),
    status: 'consuming',
    at: Date.now(),
    ...fields,
  };
}

/**
 * The routing policy estimates a local item's finish by scheduling the pool's own EDF queue; the
 * directory must hand it that queue as it really is in Redis: running work first, then waiting items
 * in deadline order, each with its estimate.
 */
describe('ProviderDirectory (real Redis and BullMQ)', () => {
  let config: AppConfig;
  let redis: Redis;
  let queues: Map<string, Queue>;
  let jobs: JobQueue;
  let store: BatchStore;
  let directory: ProviderDirectory;

  beforeAll(() => {
    config = loadConfig({
      REDIS_URL: process.env.REDIS_URL,
      SWITCHYARD_PREFIX: `t-${randomUUID().slice(0, 8)}`,
      LOCAL_MODEL_PATH: '/nonexistent.gguf',
    });
    redis = new Redis(process.env.REDIS_URL!);
    queues = new Map(
      configuredQueues(config).map((ref) => [
        queueName(ref),
        new Queue(queueName(ref), { connection: { url: process.env.REDIS_URL! }, prefix: bullPrefix(config.prefix) }),
      ]),
    );
    jobs = new JobQueue(queues, { url: process.env.REDIS_URL! }, config.prefix, config.queue);
    store = new BatchStore(redis, config.prefix);
    const pools = new PoolRegistry(redis, config.prefix, 10_000);
    directory = new ProviderDirectory(
      config,
      pools,
      store,
      new CircuitRegistry(redis, config.prefix, config.circuit),
      jobs,
    );
  });
  afterAll(async () => {
    await Promise.all([...queues.values()].map((q) => q.close()));
    await redis.quit();
  });

  it('gives the local view its waiting items in deadline order, each with its estimate, and the backlog they make', async () => {
    const model = config.localModels[0].name;
    const now = Date.now();
    const deadlines = [now + 3_600_000, now + 60_000, now + 600_000];
    const texts = ['a'.repeat(4000), 'b'.repeat(400), 'c'.repeat(40)];
    const route = { target: 'local' as const, provider: model, model, reason: 'test', at: new Date(now).toISOString() };
    const { id } = await store.create(
      {
        kind: 'document-processing',
        sensitivity: 'internal',
        deadlineAt: Math.max(...deadlines),
        task: { type: 'summarize' },
        createdAt: now,
      },
      texts.map((_, i) => ({
        itemId: `doc-${i}`,
        route,
        workTokens: 100,
        sensitivity: 'internal' as const,
        pii: { declared: 'internal' as const, categories: [], raised: false },
      })),
    );
    const items: WorkItem[] = texts.map((input, index) => ({
      batchId: id,
      index,
      itemId: `doc-${index}`,
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline: deadlines[index],
      input,
    }));
    await jobs.enqueue(
      queueRefFor('local', model),
      items.map((data) => ({
        name: JobName.RunItem,
        jobId: itemJobId(id, data.index),
        data,
        priority: deadlinePriority(data.deadline),
      })),
    );

    const state = await directory.routingState(now);
    const local = state.providers.find((p) => p.target === 'local')!;
    expect(local.queue?.map((q) => q.deadline)).toEqual([deadlines[1], deadlines[2], deadlines[0]]);
    expect(local.queue?.every((q) => !q.running && q.item?.sensitivity === 'internal')).toBe(true);
    // Longer documents are estimated as more work: the 4000-character one most.
    const work = Object.fromEntries(local.queue!.map((q) => [q.deadline, q.workTokens]));
    expect(work[deadlines[0]]).toBeGreaterThan(work[deadlines[1]]);
    expect(work[deadlines[1]]).toBeGreaterThan(work[deadlines[2]]);
    expect(local.queue![0].item?.inputTokens).toBeGreaterThan(100);
  });

  it('lists running work its pool would preempt (due 30 min or more away) as waiting work, whole; work due sooner as running', async () => {
    const model = config.localModels[0].name;
    const ref = queueRefFor('local', model);
    const now = Date.now();
    const deadlines = [now + 10 * 60_000, now + 24 * 3_600_000];
    const route = { target: 'local' as const, provider: model, model, reason: 'test', at: new Date(now).toISOString() };
    const { id } = await store.create(
      {
        kind: 'document-processing',
        sensitivity: 'internal',
        deadlineAt: deadlines[1],
        task: { type: 'summarize' },
        createdAt: now,
      },
      deadlines.map((_, i) => ({
        itemId: `run-${i}`,
        route,
        workTokens: 100,
        sensitivity: 'internal' as const,
        pii: { declared: 'internal' as const, categories: [], raised: false },
      })),
    );
    const data = deadlines.map((deadline, index): WorkItem => ({
      batchId: id,
      index,
      itemId: `run-${index}`,
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline,
      input: 'x'.repeat(400),
    }));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let started = 0;
    const consumer = jobs.consume<JobName.RunItem>(
      ref,
      async (job) => {
        // Jobs an earlier test left in this queue run through at once.
        if (job.data.batchId !== id) return { outcome: 'completed' };
        started += 1;
        await released;
        return { outcome: 'completed' };
      },
      { concurrency: 2 },
    );
    try {
      await jobs.enqueue(
        ref,
        data.map((d) => ({
          name: JobName.RunItem,
          jobId: itemJobId(id, d.index),
          data: d,
          priority: deadlinePriority(d.deadline),
        })),
      );
      for (let i = 0; i < 200 && started < 2; i++) await new Promise((r) => setTimeout(r, 25));
      expect(started).toBe(2);
      const local = (await directory.routingState(Date.now())).providers.find((p) => p.target === 'local')!;
      const mine = local.queue!.filter((q) => deadlines.includes(q.deadline));
      expect(mine.map((q) => [q.deadline, q.running === true])).toEqual([
        [deadlines[0], true],
        [deadlines[1], false],
      ]);
      // Whole: a preempted item runs again from the start; not movable by the watchdog (it is not waiting).
      expect(mine[1].workTokens).toBeGreaterThanOrEqual(mine[0].workTokens);
      expect(mine[1].item).toBeUndefined();
      // So the escalation watchdog runs it in its deadline's place among the waiting items (it is not one of them).
      expect(mine[1].preemptible).toBe(true);
    } finally {
      release();
      await consumer.close(5000);
    }
  });

  // Issue 17 §2: with 1,000 batches queued a routing call read every listed job's hash (~2,000 commands) and
  // every open batch's backlog share; both grew with the backlog.
  it('reads a deep queue by its id lists: each job once, a job added since at the next call, and no backlog share while the read is fresh', async () => {
    const deep = loadConfig({
      REDIS_URL: process.env.REDIS_URL,
      SWITCHYARD_PREFIX: `t-${randomUUID().slice(0, 8)}`,
      LOCAL_MODEL_PATH: '/nonexistent.gguf',
    });
    const deepQueues = new Map(
      configuredQueues(deep).map((ref) => [
        queueName(ref),
        new Queue(queueName(ref), { connection: { url: process.env.REDIS_URL! }, prefix: bullPrefix(deep.prefix) }),
      ]),
    );
    const deepRedis = new Redis(process.env.REDIS_URL!);
    try {
      const deepJobs = new JobQueue(deepQueues, { url: process.env.REDIS_URL! }, deep.prefix, deep.queue);
      const deepStore = new BatchStore(deepRedis, deep.prefix);
      const view = new ProviderDirectory(
        deep,
        new PoolRegistry(deepRedis, deep.prefix, 10_000),
        deepStore,
        new CircuitRegistry(deepRedis, deep.prefix, deep.circuit),
        deepJobs,
      );
      const model = deep.localModels[0].name;
      const ref = queueRefFor('local', model);
      const now = Date.now();
      const route = {
        target: 'local' as const,
        provider: model,
        model,
        reason: 'test',
        at: new Date(now).toISOString(),
      };
      const pii = { declared: 'internal' as const, categories: [], raised: false };
      /** A batch of `n` items, each queued with its deadline `deadline(i)`. */
      const queueBatch = async (n: number, deadline: (i: number) => number) => {
        const { id } = await deepStore.create(
          {
            kind: 'document-processing',
            sensitivity: 'internal',
            deadlineAt: now + 7_200_000,
            task: { type: 'summarize' },
            createdAt: now,
          },
          Array.from({ length: n }, (_, i) => ({
            itemId: `d${i}`,
            route,
            workTokens: 10,
            sensitivity: 'internal' as const,
            pii,
          })),
        );
        await deepJobs.enqueue(
          ref,
          Array.from({ length: n }, (_, index) => ({
            name: JobName.RunItem,
            jobId: itemJobId(id, index),
            data: {
              batchId: id,
              index,
              itemId: `d${index}`,
              kind: 'document-processing' as const,
              sensitivity: 'internal' as const,
              deadline: deadline(index),
              input: 'some text',
            },
            priority: deadlinePriority(deadline(index)),
          })),
        );
      };
      const payloads = jest.spyOn(deepJobs, 'payloads');
      const shareReads = jest.spyOn(deepRedis, 'hgetall');
      const read = () => payloads.mock.calls.flatMap(([, ids]) => ids);
      const readsOfOneCall = async () => {
        payloads.mockClear();
        shareReads.mockClear();
        const state = await view.routingState(Date.now());
        const shares = shareReads.mock.calls.filter(([key]) => String(key).includes(':sy:backlog:{')).length;
        return { jobs: read().length, shares, state };
      };

      for (let b = 0; b < 20; b += 1) await queueBatch(10, (i) => now + 3_600_000 + b * 1000 + i);
      // The first call reads each of the 200 jobs once, and each open batch's share once.
      const first = await readsOfOneCall();
      expect(first.jobs).toBe(200);
      expect(first.shares).toBe(20);
      expect(first.state.providers.find((p) => p.target === 'local')!.queue).toHaveLength(200);
      expect(first.state.providers.find((p) => p.target === 'local')!.backlogTokens).toBeCloseTo(2000, 6);

      // Twice as many batches queued since: the call after the one that read the new jobs reads none of them.
      for (let b = 20; b < 40; b += 1) await queueBatch(10, (i) => now + 3_600_000 + b * 1000 + i);
      expect((await readsOfOneCall()).jobs).toBe(200);
      const steady = await readsOfOneCall();
      expect(steady).toMatchObject({ jobs: 0, shares: 0 });

      // A job added now is read by the next call, and only it; its batch counts in the backlog at once.
      await queueBatch(1, () => now + 60_000);
      const next = await readsOfOneCall();
      expect(next).toMatchObject({ jobs: 1, shares: 0 });
      const local = next.state.providers.find((p) => p.target === 'local')!;
      expect(local.queue).toHaveLength(401);
      expect(local.queue![0].deadline).toBe(now + 60_000);
      expect(local.backlogTokens).toBeCloseTo(4010, 6);

      // A job that left the queue leaves the view, and what was read of it is dropped.
      const firstJob = itemJobId((await deepStore.list(1000)).at(-1)!.id, 0);
      expect(await deepJobs.removeWaiting(ref, firstJob)).toBe(true);
      const after = await readsOfOneCall();
      expect(after.jobs).toBe(0);
      expect(after.state.providers.find((p) => p.target === 'local')!.queue).toHaveLength(400);
    } finally {
      await Promise.all([...deepQueues.values()].map((q) => q.close()));
      await deepRedis.quit();
    }
  });

  it("tells the policy each provider's context, and counts a long waiting item's work by its calls on the local one", async () => {
    const cloudy = loadConfig({
      REDIS_URL: process.env.REDIS_URL,
      SWITCHYARD_PREFIX: config.prefix,
      LOCAL_MODEL_PATH: '/nonexistent.gguf',
      LOCAL_CONTEXT_SIZE: '1024',
      OPENAI_BASE_URL: 'http://127.0.0.1:9',
      OPENAI_API_KEY: 'k',
      CLOUD_CONTEXT_TOKENS: '512',
    });
    const pools = new PoolRegistry(redis, config.prefix, 10_000);
    const view = new ProviderDirectory(
      cloudy,
      pools,
      store,
      new CircuitRegistry(redis, config.prefix, config.circuit),
      jobs,
    );
    const model = cloudy.localModels[0].name;
    const now = Date.now();
    const route = { target: 'local' as const, provider: model, model, reason: 'test', at: new Date(now).toISOString() };
    const pii = { declared: 'internal' as const, categories: [], raised: false };
    const batch = {
      kind: 'document-processing' as const,
      sensitivity: 'internal' as const,
      task: { type: 'summarize' as const },
    };
    const { id } = await store.create({ ...batch, deadlineAt: now + 7_200_000, createdAt: now }, [
      { itemId: 'long', route, workTokens: 100, sensitivity: 'internal', pii },
    ]);
    // ~3,000 tokens against a local context of 1,024: several chunks and a combining call.
    const data: WorkItem = {
      ...batch,
      batchId: id,
      index: 0,
      itemId: 'long',
      deadline: now + 7_200_000,
      input: 'word '.repeat(2400),
    };
    await jobs.enqueue(queueRefFor('local', model), [
      { name: JobName.RunItem, jobId: itemJobId(id, 0), data, priority: 1 },
    ]);

    const state = await view.routingState(now);
    const local = state.providers.find((p) => p.target === 'local')!;
    expect(local.contextTokens).toBe(1024);
    expect(state.providers.find((p) => p.target === 'cloud')?.contextTokens).toBe(512);
    const queued = local.queue!.find((q) => q.deadline === data.deadline)!;
    expect(queued.item?.split).toMatchObject({ kind: 'document' });
    expect(queued.workTokens).toBeGreaterThan(workTokens(queued.item!));
  });

  it('counts a model whose only pool restarts as coming from its expected ready time, and as down once its grace is over (issue 19)', async () => {
    const graced = loadConfig({
      REDIS_URL: process.env.REDIS_URL,
      SWITCHYARD_PREFIX: `t-${randomUUID().slice(0, 8)}`,
      LOCAL_MODEL_PATH: '/nonexistent.gguf',
      POOL_GRACE_MS: '60000',
    });
    const pools = new PoolRegistry(redis, graced.prefix, 10_000);
    const view = new ProviderDirectory(
      graced,
      pools,
      store,
      new CircuitRegistry(redis, graced.prefix, graced.circuit),
      jobs,
    );
    const model = graced.localModels[0].name;
    const now = Date.now();
    await pools.recordLoad(model, 20_000);
    expect(await pools.loadMs(model)).toBe(20_000);
    const hb = heartbeat({
      id: `h:1:inference-local.${model}`,
      target: 'local',
      provider: model,
      model,
      queue: `inference-local.${model}`,
      device: 'cpu',
      startedAt: now - 600_000,
    });
    await pools.beat({ ...hb, status: 'consuming', at: now - 1000 });
    await pools.beat({ ...hb, status: 'restarting', at: now, expectedReadyAt: now + 20_000 }, 60_000);

    const local = (await view.routingState(now)).providers.find((p) => p.target === 'local')!;
    expect(local).toMatchObject({
      available: true,
      concurrency: 4,
      coming: { status: 'restarting', readyAt: now + 20_000 },
    });
    expect(await view.capacity(now)).toEqual([
      expect.objectContaining({ model, state: 'restarting', since: now, graceUntil: now + 60_000, loadMs: 20_000 }),
    ]);
    // The restarting word expires with the grace; its last heartbeat stays as seen, and the model is down.
    const later = now + 60_001;
    const after = (await view.routingState(later)).providers.find((p) => p.target === 'local')!;
    expect(after.available).toBe(false);
    expect(after.coming).toBeUndefined();
    expect((await pools.seen(later)).map((p) => p.status)).toEqual(['restarting']);
  });

  it('counts a pool as live until its heartbeat expires, reading without pruning, and prunes on the next beat', async () => {
    const prefix = `t-${randomUUID().slice(0, 8)}`;
    const pools = new PoolRegistry(redis, prefix, 10_000);
    const now = Date.now();
    const hb = (id: string, at: number) =>
      heartbeat({
        id,
        target: 'cloud',
        provider: 'frontier',
        model: 'frontier',
        queue: 'inference-cloud.frontier',
        device: 'api',
        startedAt: now,
        at,
      });
    await pools.beat(hb('a', now));
    expect((await pools.live(now + 9_999)).map((p) => p.id)).toEqual(['a']);
    // Expired by then, though its key lives on in real time: not live, and the read leaves the index alone.
    expect(await pools.live(now + 10_000)).toEqual([]);
    const index = `${globalKeyPrefix(prefix)}:pools`;
    expect(await redis.zcard(index)).toBe(1);
    await pools.beat(hb('b', now + 10_000));
    expect(await redis.zrange(index, 0, -1)).toEqual(['b']);
  });

  it("drains a cloud route's backlog at its live pools' concurrency, one worker's CLOUD_CONCURRENCY before any consumes", async () => {
    const cfg = loadConfig({
      REDIS_URL: process.env.REDIS_URL,
      SWITCHYARD_PREFIX: `t-${randomUUID().slice(0, 8)}`,
      LOCAL_MODEL_PATH: '/nonexistent.gguf',
      OPENAI_BASE_URL: 'http://127.0.0.1:1/v1',
      OPENAI_API_KEY: 'k',
      CLOUD_CONCURRENCY: '12',
    });
    const pools = new PoolRegistry(redis, cfg.prefix, 10_000);
    const view = new ProviderDirectory(cfg, pools, store, new CircuitRegistry(redis, cfg.prefix, cfg.circuit), jobs);
    const cloudName = cfg.cloudProviders[0].name;
    const cloud = async (at: number) => (await view.routingState(at)).providers.find((p) => p.name === cloudName)!;
    const now = Date.now();
    expect((await cloud(now)).concurrency).toBe(12);

    const hb = (id: string, activeSequences: number, over: Partial<PoolHeartbeat> = {}) =>
      heartbeat({
        id,
        target: 'cloud',
        provider: cloudName,
        model: cfg.cloudProviders[0].model,
        queue: `inference-cloud.${cloudName}`,
        host: id,
        device: 'api',
        sequences: activeSequences,
        activeSequences,
        startedAt: now,
        at: now,
        ...over,
      });
    await pools.beat(hb('w1', 12));
    await pools.beat(hb('w2', 50));
    // Neither another route's pool nor one that takes no jobs drains this backlog.
    await pools.beat(hb('w3', 99, { provider: 'elsewhere' }));
    await pools.beat(hb('w4', 99, { status: 'unreachable' }));
    expect((await cloud(now)).concurrency).toBe(62);
  });
});
