import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { BatchBudget, carriedSpent } from './batch-budget.js';
import { BatchCreation } from './batch-creation.js';
import { BatchKeys } from './batch-keys.js';
import { ProviderBacklog } from './provider-backlog.js';

describe('carriedSpent', () => {
  it('hands the item scripts tokens and a cost rounded to the nano-dollar', () => {
    expect(carriedSpent({ inputTokens: 300, outputTokens: 80, costUsd: 0.1 + 0.2 })).toEqual(['300', '80', '0.3']);
  });
});

describe('BatchBudget and ProviderBacklog (real Redis)', () => {
  let redis: Redis;
  let keys: BatchKeys;
  let budget: BatchBudget;

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    keys = new BatchKeys(`t-${randomUUID().slice(0, 8)}`);
    budget = new BatchBudget(redis, keys);
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('always reserves for a batch without maxCostUsd, and never marks it as having reached one', async () => {
    const { id } = await new BatchCreation(redis, keys).create(
      {
        kind: 'document-processing',
        sensitivity: 'public',
        deadlineAt: Date.now() + 60_000,
        task: { type: 'summarize' },
        createdAt: Date.now(),
      },
      [],
    );
    expect(await budget.reserve(id, 1_000_000)).toBe(true);
    await budget.release(id, 1_000_000);
    expect(await redis.hmget(keys.batch(id), 'reservedUsd', 'budgetReached')).toEqual([null, null]);
  });

  it('refuses a reservation past maxCostUsd and marks the batch; a release makes room again', async () => {
    const { id } = await new BatchCreation(redis, keys).create(
      {
        kind: 'document-processing',
        sensitivity: 'public',
        deadlineAt: Date.now() + 60_000,
        task: { type: 'summarize' },
        createdAt: Date.now(),
        maxCostUsd: 0.01,
      },
      [],
    );
    expect(await budget.reserve(id, 0.008)).toBe(true);
    expect(await budget.reserve(id, 0.004)).toBe(false);
    expect(await redis.hget(keys.batch(id), 'budgetReached')).toBe('1');
    await budget.release(id, 0.008);
    expect(await budget.reserve(id, 0.004)).toBe(true);
  });

  it('shows a provider backlog that float sums left a hair below zero as zero', async () => {
    const backlog = new ProviderBacklog(redis, keys);
    expect(await backlog.tokens('local', 'nobody')).toBe(0);
    await redis.hset(keys.batchBacklog('drained-batch'), 'local:drained', '-0.000000001');
    await redis.sadd(keys.openBacklogs(), 'drained-batch');
    expect(await backlog.tokens('local', 'drained')).toBe(0);
  });
});
