import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig, type AppConfig } from '#libs/config';
import { BatchStore } from '#libs/batches';
import { configuredQueues, JobQueue, queueName, bullPrefix } from '#libs/queue';
import { CircuitRegistry } from './circuit-registry.js';
import { PoolRegistry, type PoolHeartbeat } from './pool-registry.js';
import { ProviderDirectory } from './provider-directory.js';

/**
 * An engine pool (ENGINE_POOLS, issue 17 §4) is seen by routing exactly as a local pool is (a local view with its
 * EDF queue), with the clearance its entry declares, the engine's slots as its concurrency, and unavailable while
 * no worker's pool of it consumes.
 */
describe('ProviderDirectory: an engine pool (real Redis)', () => {
  let config: AppConfig;
  let redis: Redis;
  let queues: Map<string, Queue>;
  let pools: PoolRegistry;
  let directory: ProviderDirectory;

  beforeAll(() => {
    config = loadConfig({
      REDIS_URL: process.env.REDIS_URL,
      SWITCHYARD_PREFIX: `t-${randomUUID().slice(0, 8)}`,
      LOCAL_MODEL_PATH: '/nonexistent.gguf',
      ENGINE_POOLS: JSON.stringify([
        {
          name: 'gpu-1',
          engine: 'llama-server',
          baseURL: 'http://10.0.0.7:8080/v1',
          model: 'llama-8b',
          onPremises: true,
          clearance: 'confidential',
          contextTokens: 8192,
          priceOutputPerM: 0.02,
        },
      ]),
    });
    redis = new Redis(process.env.REDIS_URL!);
    queues = new Map(
      configuredQueues(config).map((ref) => [
        queueName(ref),
        new Queue(queueName(ref), { connection: { url: process.env.REDIS_URL! }, prefix: bullPrefix(config.prefix) }),
      ]),
    );
    const jobs = new JobQueue(queues, { url: process.env.REDIS_URL! }, config.prefix, config.queue);
    pools = new PoolRegistry(redis, config.prefix, 10_000);
    directory = new ProviderDirectory(
      config,
      pools,
      new BatchStore(redis, config.prefix),
      new CircuitRegistry(redis, config.prefix, config.circuit),
      jobs,
    );
  });
  afterAll(async () => {
    await Promise.all([...queues.values()].map((q) => q.close()));
    await redis.quit();
  });

  const beat = (id: string, over: Partial<PoolHeartbeat>) =>
    pools.beat({
      id,
      target: 'local',
      provider: 'gpu-1',
      model: 'llama-8b',
      queue: 'inference-local.gpu-1',
      host: 'worker-a',
      pid: 1,
      device: 'llama-server',
      deviceNames: ['10.0.0.7:8080'],
      memory: null,
      modelBytes: null,
      status: 'consuming',
      reason: '4 slot(s)',
      sequences: 4,
      activeSequences: 4,
      busy: 0,
      startedAt: Date.now(),
      at: Date.now(),
      engine: {
        kind: 'llama-server',
        host: '10.0.0.7:8080',
        reading: { engine: 'llama-server', slots: 4, slotContext: 8192, running: 0, waiting: 0, kvUsage: null },
        readAt: Date.now(),
      },
      ...over,
    });
  const view = async () => (await directory.routingState()).providers.find((p) => p.name === 'gpu-1')!;

  it('has its own local queue among the configured ones', () => {
    expect(configuredQueues(config).map(queueName)).toContain('inference-local.gpu-1');
  });

  it('is a local view with its declared clearance and price, an EDF queue, and unavailable before any pool reads it', async () => {
    expect(await view()).toMatchObject({
      target: 'local',
      model: 'llama-8b',
      clearance: 'confidential',
      price: { inputPerMTokUsd: 0, outputPerMTokUsd: 0.02 },
      contextTokens: 8192,
      available: false,
      queue: [],
    });
  });

  it("counts the engine's slots once however many workers share it, and is down while its pools say unreachable", async () => {
    await beat('a', { activeSequences: 2 });
    await beat('b', { host: 'worker-b', activeSequences: 2 });
    expect(await view()).toMatchObject({ available: true, concurrency: 4 });
    await beat('a', { status: 'unreachable', activeSequences: 0 });
    await beat('b', { status: 'unreachable', activeSequences: 0 });
    expect((await view()).available).toBe(false);
  });

  it('holds items to the context its workers read from the engine, the least of them, not the configured one', async () => {
    const engine = (contextTokens: number | undefined, slotContext: number) => ({
      kind: 'llama-server' as const,
      host: '10.0.0.7:8080',
      reading: { engine: 'llama-server' as const, slots: 4, slotContext, running: 0, waiting: 0, kvUsage: null },
      readAt: Date.now(),
      ...(contextTokens !== undefined && { contextTokens }),
    });
    // llama-server --parallel 8 -c 8192: 1024 a slot, below the 8192 configured. A worker that read it before a
    // restart with more says 2048: the least holds, so whichever worker takes an item can run it.
    await beat('a', { engine: engine(1024, 1024) });
    await beat('b', { host: 'worker-b', engine: engine(2048, 2048) });
    // A worker from before engine contexts were published says nothing of one, and is not counted.
    await beat('c', { host: 'worker-c', engine: engine(undefined, 512) });
    expect(await view()).toMatchObject({ available: true, contextTokens: 1024 });
    // The engine stopped answering: what its pools last read still holds for the items waiting for it.
    await beat('a', { status: 'unreachable', activeSequences: 0, engine: engine(1024, 1024) });
    await beat('b', { host: 'worker-b', status: 'unreachable', activeSequences: 0, engine: engine(1024, 1024) });
    await beat('c', { host: 'worker-c', status: 'unreachable', activeSequences: 0, engine: engine(undefined, 512) });
    expect(await view()).toMatchObject({ available: false, contextTokens: 1024 });
  });
});
