import { afterEach, describe, expect, it } from '@jest/globals';
import { loadConfig, type EnginePoolConfig } from '#libs/config';
import type { EngineReading, PoolHeartbeat } from '#libs/pools';
import { ProviderError, type InferenceProvider } from '#libs/providers';
import { InMemoryJobQueue, JobName, queueRefFor, type ConsumerHandle, type QueueLayer } from '#libs/queue';
import { EnginePool } from './engine-pool.js';
import type { ItemOutcome } from './item-outcome.js';

const engine: EnginePoolConfig = loadConfig({
  ENGINE_POOLS: JSON.stringify([
    {
      name: 'gpu-1',
      engine: 'llama-server',
      baseURL: 'http://10.0.0.7:8080/v1',
      onPremises: true,
      clearance: 'restricted',
      // Polled by the test, not by a timer.
      pollMs: 3_600_000,
    },
  ]),
}).enginePools[0]!;
const queue = queueRefFor('local', 'gpu-1');

const slots = (n: number, running = 0): EngineReading => ({
  engine: 'llama-server',
  slots: n,
  slotContext: 4096,
  running,
  waiting: 0,
  kvUsage: null,
});

/**
 * The pool with the in-memory queue layer, a scripted engine (each read takes the next answer: a reading, or an
 * error for an engine that does not answer) and a processor that ends each item as the test says.
 */
function enginePool(answers: Array<EngineReading | Error>, outcomes: ItemOutcome[] = []) {
  const fake = new InMemoryJobQueue({ queues: [queue] });
  const concurrency: number[] = [];
  // The queue layer as the pool sees it, recording every concurrency the consumer is given.
  const jobs: QueueLayer = Object.assign(Object.create(fake) as QueueLayer, {
    consume: (...args: Parameters<QueueLayer['consume']>): ConsumerHandle => {
      concurrency.push(args[2].concurrency);
      const handle = fake.consume(...args);
      return { ...handle, setConcurrency: (n: number) => (concurrency.push(n), handle.setConcurrency(n)) };
    },
  });
  const beats: PoolHeartbeat[] = [];
  let reads = 0;
  const pool = new EnginePool(engine, {
    jobs,
    registry: { beat: async (hb) => void beats.push(hb), remove: async () => undefined },
    processor: { run: async () => outcomes.shift() ?? { kind: 'completed' } },
    heartbeatMs: 3_600_000,
    provider: { name: 'gpu-1' } as InferenceProvider,
    read: async () => {
      const answer = answers[Math.min(reads++, answers.length - 1)]!;
      if (answer instanceof Error) throw answer;
      return answer;
    },
  });
  const enqueue = (id: string) =>
    fake.enqueue(queue, [
      {
        name: JobName.RunItem,
        data: { batchId: 'b', index: Number(id), deadline: Date.now() + 60_000 } as never,
        jobId: id,
      },
    ]);
  return { pool, fake, concurrency, beats, enqueue };
}

describe('an engine pool', () => {
  const started: EnginePool[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((p) => p.stop(100)));
  });

  it('consumes with the slots the engine reports, and follows them when they change', async () => {
    const { pool, concurrency } = enginePool([slots(3), slots(1), slots(6, 2)]);
    started.push(pool);
    await pool.start();
    expect(concurrency).toEqual([3]);
    expect(pool.describe()).toMatchObject({ status: 'consuming', sequences: 3, activeSequences: 3 });
    await pool.poll();
    // 6 slots, 2 running that are not ours: 4 left.
    await pool.poll();
    expect(concurrency).toEqual([3, 1, 4]);
    expect(pool.describe()).toMatchObject({
      reason: '6 slot(s), 2 held by others',
      engine: { kind: 'llama-server', host: '10.0.0.7:8080', reading: { slots: 6, running: 2 } },
    });
  });

  it('takes no jobs while the engine does not answer, says why, and consumes again once it does', async () => {
    const { pool, fake, enqueue } = enginePool([slots(2), new Error('fetch failed'), slots(2)]);
    started.push(pool);
    await pool.start();
    await pool.poll();
    expect(pool.describe()).toMatchObject({
      status: 'unreachable',
      activeSequences: 0,
      reason: 'the engine does not answer: fetch failed',
    });
    await enqueue('1');
    expect(await fake.runNext(queue)).toBeNull();
    await pool.poll();
    expect(pool.describe().status).toBe('consuming');
    expect(await fake.runNext(queue)).toMatchObject({ state: 'completed' });
  });

  it('does not consume from the start when the engine is down then, and begins when it answers', async () => {
    const { pool, fake, enqueue } = enginePool([new Error('connect ECONNREFUSED'), slots(2)]);
    started.push(pool);
    await pool.start();
    await enqueue('1');
    expect(await fake.runNext(queue)).toBeNull();
    await pool.poll();
    expect(await fake.runNext(queue)).toMatchObject({ state: 'completed' });
  });

  it('hands back an item whose connection the engine dropped without spending an attempt, and pauses at once', async () => {
    const dropped = new ProviderError('provider "gpu-1": connection failed', true, 'connection');
    const { pool, fake, enqueue } = enginePool([slots(2)], [{ kind: 'retrying', error: dropped }]);
    started.push(pool);
    await pool.start();
    await enqueue('1');
    await enqueue('2');
    const job = await fake.runNext(queue);
    expect(job).toMatchObject({ state: 'waiting', attemptsMade: 0 });
    await new Promise((r) => setImmediate(r));
    expect(pool.describe().status).toBe('unreachable');
    expect(fake.jobs(queue).map((j) => j.state)).toEqual(['waiting', 'waiting']);
  });

  it('lets any other failure take its retry as usual', async () => {
    const refused = new ProviderError('provider "gpu-1": 500', true, 'server_error');
    const { pool, fake, enqueue } = enginePool([slots(2)], [{ kind: 'retrying', error: refused }]);
    started.push(pool);
    await pool.start();
    await enqueue('1');
    expect(await fake.runNext(queue)).toMatchObject({ state: 'delayed', attemptsMade: 1 });
    expect(pool.describe().status).toBe('consuming');
  });
});
