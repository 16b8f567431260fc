import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { loadConfig, type EnginePoolConfig } from '#libs/config';
import type { EngineReading, PoolHeartbeat } from '#libs/pools';
import { CloudProvider, ProviderError, type InferenceProvider } from '#libs/providers';
import { InMemoryJobQueue, JobName, queueRefFor, type ConsumerHandle, type QueueLayer } from '#libs/queue';
import { EnginePool } from './engine-pool.js';
import type { ItemOutcome } from './item-outcome.js';

/** The engine's ENGINE_POOLS entry: llama-server at 10.0.0.7, unless the test says otherwise. */
const engineConfig = (over: Record<string, unknown> = {}): EnginePoolConfig =>
  loadConfig({
    ENGINE_POOLS: JSON.stringify([
      {
        name: 'gpu-1',
        engine: 'llama-server',
        baseURL: 'http://10.0.0.7:8080/v1',
        onPremises: true,
        clearance: 'restricted',
        // Polled by the test, not by a timer.
        pollMs: 3_600_000,
        ...over,
      },
    ]),
  }).enginePools[0]!;
const engine = engineConfig();
const queue = queueRefFor('local', 'gpu-1');

const slots = (n: number, running = 0, slotContext = 4096): EngineReading => ({
  engine: 'llama-server',
  slots: n,
  slotContext,
  running,
  waiting: 0,
  kvUsage: null,
});

/** What fetch throws when nothing listens at the engine's address. */
const refused = () =>
  new TypeError('fetch failed', {
    cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:8080'), { code: 'ECONNREFUSED' }),
  });

/**
 * The pool with the in-memory queue layer, a scripted engine (each read takes the next answer: a reading, null for
 * an engine that answers without capacity endpoints, or an error for one that does not answer) and a processor that
 * ends each item as the test says. `closing`: what a consumer's close waits for first, as a real one waits for its
 * running jobs.
 */
function enginePool(
  answers: Array<EngineReading | Error | null>,
  outcomes: ItemOutcome[] = [],
  opts: { config?: EnginePoolConfig; closing?: Promise<void>; read?: null; provider?: InferenceProvider } = {},
) {
  const fake = new InMemoryJobQueue({ queues: [queue] });
  const concurrency: number[] = [];
  // The queue layer as the pool sees it, recording every concurrency the consumer is given.
  const jobs: QueueLayer = Object.assign(Object.create(fake) as QueueLayer, {
    consume: (...args: Parameters<QueueLayer['consume']>): ConsumerHandle => {
      concurrency.push(args[2].concurrency);
      const handle = fake.consume(...args);
      return {
        ...handle,
        setConcurrency: (n: number) => (concurrency.push(n), handle.setConcurrency(n)),
        close: async (ms: number) => (await opts.closing, handle.close(ms)),
      };
    },
  });
  const beats: PoolHeartbeat[] = [];
  // The provider each item ran on, as the processor was given it, and its contextTokens then (what the fit check reads).
  const ranOn: Array<{ provider: InferenceProvider; contextTokens: number }> = [];
  let reads = 0;
  const pool = new EnginePool(opts.config ?? engine, {
    jobs,
    registry: { beat: async (hb) => void beats.push(hb), remove: async () => undefined },
    processor: {
      run: async (_job, on) => {
        ranOn.push({ provider: on.provider, contextTokens: on.provider.contextTokens });
        return outcomes.shift() ?? { kind: 'completed' };
      },
    },
    heartbeatMs: 3_600_000,
    provider: opts.provider ?? ({ name: 'gpu-1' } as InferenceProvider),
    // null: the pool's own reading over HTTP.
    ...(opts.read === null
      ? {}
      : {
          read: async () => {
            const answer = answers[Math.min(reads++, answers.length - 1)]!;
            if (answer instanceof Error) throw answer;
            return answer;
          },
        }),
  });
  const enqueue = (id: string) =>
    fake.enqueue(queue, [
      {
        name: JobName.RunItem,
        data: { batchId: 'b', index: Number(id), deadline: Date.now() + 60_000 } as never,
        jobId: id,
      },
    ]);
  return { pool, fake, concurrency, beats, enqueue, ranOn };
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

  it('takes no jobs once three reads in a row have failed, says why, and consumes again once the engine answers', async () => {
    const failed = new Error('The operation was aborted due to timeout');
    const { pool, fake, enqueue } = enginePool([slots(2), failed, failed, failed, slots(2)]);
    started.push(pool);
    await pool.start();
    await pool.poll();
    await pool.poll();
    expect(pool.describe().status).toBe('consuming');
    await pool.poll();
    expect(pool.describe()).toMatchObject({
      status: 'unreachable',
      activeSequences: 0,
      reason: 'the engine does not answer: The operation was aborted due to timeout',
    });
    await enqueue('1');
    expect(await fake.runNext(queue)).toBeNull();
    await pool.poll();
    expect(pool.describe().status).toBe('consuming');
    expect(await fake.runNext(queue)).toMatchObject({ state: 'completed' });
  });

  it('goes on consuming through a failed or empty read or two: one slow /metrics is not an outage', async () => {
    const slow = new Error('The operation was aborted due to timeout');
    const { pool, fake, enqueue } = enginePool([slots(2), slow, null, slots(2), slow, slow, slots(3)]);
    started.push(pool);
    await pool.start();
    for (let i = 0; i < 5; i++) {
      await pool.poll();
      expect(pool.describe()).toMatchObject({ status: 'consuming', activeSequences: 2 });
    }
    await enqueue('1');
    expect(await fake.runNext(queue)).toMatchObject({ state: 'completed' });
    await pool.poll();
    expect(pool.describe()).toMatchObject({ status: 'consuming', activeSequences: 3 });
  });

  it('pauses at once when nothing listens at the engine any more (connection refused)', async () => {
    const { pool } = enginePool([slots(2), refused()]);
    started.push(pool);
    await pool.start();
    await pool.poll();
    expect(pool.describe()).toMatchObject({
      status: 'unreachable',
      reason: 'the engine does not answer: fetch failed: connect ECONNREFUSED 10.0.0.7:8080',
    });
  });

  it('keeps polling while the pause waits for the running jobs, and consumes again if the engine comes back', async () => {
    let drained!: () => void;
    const closing = new Promise<void>((resolve) => (drained = resolve));
    const { pool, fake, enqueue } = enginePool([slots(2), refused(), slots(2)], [], { closing });
    started.push(pool);
    try {
      await pool.start();
      const polled = await Promise.race([
        pool.poll().then(() => 'polled'),
        new Promise((resolve) => setTimeout(() => resolve('held up by the pause'), 200)),
      ]);
      expect(polled).toBe('polled');
      expect(pool.describe().status).toBe('unreachable');
      await pool.poll();
      expect(pool.describe().status).toBe('consuming');
      await enqueue('1');
      expect(await fake.runNext(queue)).toMatchObject({ state: 'completed' });
    } finally {
      drained();
    }
  });

  it('gives a capacity read its own timeout, not the polling interval: a slow answer still counts', async () => {
    // Answers after 1.2 s: beyond max(1000, pollMs) for pollMs 100, well within the read's own timeout.
    const slowEngine = jest.spyOn(globalThis, 'fetch').mockImplementation((url, init) => {
      const body = String(url).includes('/slots') ? JSON.stringify([{ id: 0, n_ctx: 4096, is_processing: false }]) : '';
      return new Promise<Response>((resolve, reject) => {
        const answered = setTimeout(() => resolve(new Response(body)), 1200);
        init?.signal?.addEventListener('abort', () => (clearTimeout(answered), reject(init.signal!.reason)));
      });
    });
    try {
      const { pool } = enginePool([], [], { config: engineConfig({ pollMs: 100 }), read: null });
      await pool.poll();
      expect(pool.describe()).toMatchObject({ status: 'consuming', reason: '1 slot(s)' });
    } finally {
      slowEngine.mockRestore();
    }
  });

  it('does not consume from a vLLM that does not serve the model configured, and says which it serves', async () => {
    const vllm = (servedModels: string[]): EngineReading => ({
      engine: 'vllm',
      slots: null,
      slotContext: null,
      running: 0,
      waiting: 0,
      kvUsage: 0.1,
      servedModels,
    });
    const config = engineConfig({ engine: 'vllm', model: 'llama-8b' });
    const { pool, fake, enqueue } = enginePool(
      [vllm(['meta-llama/Llama-3.1-8B-Instruct']), vllm(['meta-llama/Llama-3.1-8B-Instruct', 'llama-8b'])],
      [],
      { config },
    );
    started.push(pool);
    await pool.start();
    expect(pool.describe()).toMatchObject({
      status: 'unreachable',
      reason: 'the engine does not serve model "llama-8b"; it serves "meta-llama/Llama-3.1-8B-Instruct"',
    });
    await enqueue('1');
    expect(await fake.runNext(queue)).toBeNull();
    // Restarted with --served-model-name llama-8b: it takes the queue.
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

  it('holds items to the context the engine reports, not the configured default, and routing is told it', async () => {
    // llama-server --parallel 8 -c 8192: 1024 tokens a slot, where the default would have said 4096; then restarted
    // without --parallel (4 slots on a unified KV cache, each with the model's whole 128k context).
    const { pool, fake, enqueue, ranOn, beats } = enginePool([
      new Error('connect ECONNREFUSED'),
      slots(8, 0, 1024),
      slots(4, 0, 131072),
    ]);
    started.push(pool);
    await pool.start();
    // Not read yet: the heartbeat claims no context of the engine's (routing keeps to the configured one).
    expect(beats.at(-1)!.engine).not.toHaveProperty('contextTokens');
    await pool.poll();
    await enqueue('1');
    await fake.runNext(queue);
    expect(ranOn.map((r) => r.contextTokens)).toEqual([1024]);
    expect(pool.describe().engine).toMatchObject({ contextTokens: 1024 });
    await pool.poll();
    await enqueue('2');
    await fake.runNext(queue);
    expect(ranOn.map((r) => r.contextTokens)).toEqual([1024, 131072]);
    expect(pool.describe().engine).toMatchObject({ contextTokens: 131072 });
  });

  it('lets a contextTokens the entry set cap the engine, and warns once while the two disagree', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const config = engineConfig({ contextTokens: 8192 });
      const { pool, fake, enqueue, ranOn } = enginePool(
        [slots(4, 0, 131072), slots(4, 0, 131072), slots(4, 0, 2048)],
        [],
        {
          config,
        },
      );
      started.push(pool);
      await pool.start();
      await pool.poll();
      await enqueue('1');
      await fake.runNext(queue);
      expect(ranOn.map((r) => r.contextTokens)).toEqual([8192]);
      const said = () => warn.mock.calls.map(([m]) => m as Record<string, unknown>).filter((m) => 'reported' in m);
      expect(said()).toEqual([
        expect.objectContaining({ engine: 'gpu-1', reported: 131072, contextTokens: 8192, using: 8192 }),
      ]);
      // Restarted with a smaller context: the engine's figure holds (it would refuse more), and that is said too.
      await pool.poll();
      await enqueue('2');
      await fake.runNext(queue);
      expect(ranOn.map((r) => r.contextTokens)).toEqual([8192, 2048]);
      expect(said()).toHaveLength(2);
      expect(said()[1]).toMatchObject({ reported: 2048, using: 2048 });
    } finally {
      warn.mockRestore();
    }
  });

  it("hands its consumer the engine's own client, its model and methods intact, with the context in use", async () => {
    const client = new CloudProvider({
      name: 'gpu-1',
      baseURL: 'http://10.0.0.7:8080/v1',
      apiKey: 'none',
      model: 'llama-8b',
      clearance: 'restricted',
      timeoutMs: 1000,
      maxRetries: 0,
      contextTokens: engine.contextTokens,
    });
    const { pool, fake, enqueue, ranOn } = enginePool([slots(2, 0, 32768)], [], { provider: client });
    started.push(pool);
    await pool.start();
    await enqueue('1');
    await fake.runNext(queue);
    const on = ranOn[0]!.provider;
    expect(on).toBeInstanceOf(CloudProvider);
    expect(on).toMatchObject({ name: 'gpu-1', model: 'llama-8b', contextTokens: 32768 });
    expect(on.countTokens('four')).toBe(client.countTokens('four'));
    await on.close();
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
