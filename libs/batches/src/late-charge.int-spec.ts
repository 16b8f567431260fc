import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { BatchStore, type NewItem } from './batch-store.js';

const item = (itemId: string): NewItem => ({
  itemId,
  sensitivity: 'internal',
  pii: { declared: 'internal', categories: [], raised: false },
  route: { target: 'cloud', provider: 'frontier.batch', model: 'm', reason: 'test', at: new Date().toISOString() },
  workTokens: 40,
});

// Issue 16 §3: a provider batch line the item was escalated from, which the provider finished and bills anyway.
describe('BatchStore.chargeLate (real Redis)', () => {
  let redis: Redis;
  let store: BatchStore;

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    store = new BatchStore(redis, `t-${randomUUID().slice(0, 8)}`);
  });
  afterAll(async () => {
    await redis.quit();
  });

  const newBatch = (n: number) =>
    store.create(
      {
        kind: 'document-processing',
        sensitivity: 'internal',
        deadlineAt: Date.now() + 60_000,
        task: { type: 'summarize' },
        createdAt: Date.now(),
      },
      Array.from({ length: n }, (_, i) => item(`d${i}`)),
    );
  const bill = { inputTokens: 1000, outputTokens: 100, costUsd: 0.0001 };

  it('adds a late bill to a finished item and its batch, once per line', async () => {
    const { id } = await newBatch(1);
    await store.transition(id, 0, ['queued'], 'running');
    await store.transition(id, 0, ['running'], 'completed', {
      result: 'from the standard route',
      inputTokens: 500,
      outputTokens: 50,
      costUsd: 0.0002,
    });
    expect(await store.chargeLate({ batchId: id, index: 0, line: `${id}.0`, spent: bill })).toBe('charged');
    // A worker that crashed after charging charges the same line again: nothing more.
    expect(await store.chargeLate({ batchId: id, index: 0, line: `${id}.0`, spent: bill })).toBe('charged-before');
    const [view] = await store.items(id, 0, 1);
    expect(view.usage).toEqual({ inputTokens: 1500, outputTokens: 150 });
    expect(view.costUsd).toBeCloseTo(0.0003, 9);
    const batch = await store.get(id);
    expect(batch?.usage).toEqual({ inputTokens: 1500, outputTokens: 150 });
    expect(batch?.cost.usd).toBeCloseTo(0.0003, 9);
  });

  it('carries a late bill on an item still running elsewhere into its usage when it finishes', async () => {
    const { id } = await newBatch(2);
    await store.transition(id, 0, ['queued'], 'running');
    expect(await store.chargeLate({ batchId: id, index: 0, line: `${id}.0`, spent: bill })).toBe('carried');
    // The batch's cost takes it with the item's, when the item finishes.
    expect((await store.get(id))?.cost.usd).toBe(0);
    await store.transition(id, 0, ['running'], 'completed', { inputTokens: 500, outputTokens: 50, costUsd: 0.0002 });
    const [view] = await store.items(id, 0, 1);
    expect(view.usage).toEqual({ inputTokens: 1500, outputTokens: 150 });
    expect(view.costUsd).toBeCloseTo(0.0003, 9);
    expect(await store.chargeLate({ batchId: id, index: 9, line: `${id}.9`, spent: bill })).toBe('missing');
  });

  it("gives the line's budget reservation back with its charge, once", async () => {
    const { id } = await store.create(
      {
        kind: 'document-processing',
        sensitivity: 'internal',
        deadlineAt: Date.now() + 60_000,
        task: { type: 'summarize' },
        createdAt: Date.now(),
        maxCostUsd: 1,
      },
      [item('d0')],
    );
    await store.transition(id, 0, ['queued'], 'running');
    expect(await store.budget.reserve(id, 0.001)).toBe(true);
    const charge = { batchId: id, index: 0, line: `${id}.0`, spent: bill, releaseUsd: 0.001 };
    expect(await store.chargeLate(charge)).toBe('carried');
    expect(await store.chargeLate(charge)).toBe('charged-before');
    expect((await store.get(id))?.budget?.reservedUsd).toBeCloseTo(0, 12);
  });
});
