import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { ProviderCapabilities } from './provider-capabilities.js';

describe('ProviderCapabilities (real Redis)', () => {
  let redis: Redis;
  let capabilities: ProviderCapabilities;
  const p = () => `p-${randomUUID().slice(0, 6)}`;

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    capabilities = new ProviderCapabilities(redis, `t-${randomUUID().slice(0, 8)}`, {
      memoryMs: 60_000,
      refusalsToLearn: 2,
      windowMs: 10_000,
    });
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('learns an inability only from refusals of different items within the window', async () => {
    const provider = p();
    expect(await capabilities.recordRefusal(provider, 'structured-output', 'b:0', 1_000)).toBeNull();
    // The same item again proves nothing about the provider.
    expect(await capabilities.recordRefusal(provider, 'structured-output', 'b:0', 2_000)).toBeNull();
    // A second item, but after the first fell out of the window.
    expect(await capabilities.recordRefusal(provider, 'structured-output', 'b:1', 20_000)).toBeNull();
    expect(await capabilities.lacks(provider)).toEqual([]);
    const learned = await capabilities.recordRefusal(provider, 'structured-output', 'b:2', 21_000);
    expect(learned).toEqual({
      learnedNow: true,
      lack: { capability: 'structured-output', learnedAt: 21_000, expiresAt: 81_000, refusals: 2 },
    });
    expect(await capabilities.lacks(provider)).toEqual([learned!.lack]);
    // Known already: reported, not learned again.
    expect((await capabilities.recordRefusal(provider, 'structured-output', 'b:3', 22_000))?.learnedNow).toBe(false);
  });

  it('forgets what it learned after the memory expires', async () => {
    const short = new ProviderCapabilities(redis, `t-${randomUUID().slice(0, 8)}`, {
      memoryMs: 200,
      refusalsToLearn: 1,
      windowMs: 10_000,
    });
    const provider = p();
    expect((await short.recordRefusal(provider, 'structured-output', 'b:0'))?.learnedNow).toBe(true);
    expect(await short.lacks(provider)).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 400));
    expect(await short.lacks(provider)).toEqual([]);
  });
});
