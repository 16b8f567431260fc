import { describe, expect, it } from '@jest/globals';
import type { RedisClient } from '#libs/redis';
import { PoolRegistry } from './pool-registry.js';

/** Just the GET/SET that recordThroughput uses (and defineCommand, which the constructor calls for its script). */
function fakeRedis(): RedisClient {
  const kv = new Map<string, string>();
  const redis = {
    get: async (k: string) => kv.get(k) ?? null,
    set: async (k: string, v: string) => void kv.set(k, v),
    defineCommand: () => undefined,
  };
  return redis as unknown as RedisClient;
}

describe('PoolRegistry.recordThroughput', () => {
  it("a cloud provider's first, cold sample moves its configured speed by α only, not to the sample", async () => {
    const pools = new PoolRegistry(fakeRedis(), 't', 1000);
    // Measured on a busy machine: a 2000 tok/s double read as 36 tok/s (issue 12 §6).
    expect(await pools.recordThroughput('cloud', 'frontier', 36, 2000)).toBeCloseTo(0.8 * 2000 + 0.2 * 36, 6);
    expect(await pools.throughput('cloud', 'frontier')).toBeCloseTo(1607.2, 6);
  });

  it("without a prior (a local pool's default is a placeholder) the first sample is the average", async () => {
    const pools = new PoolRegistry(fakeRedis(), 't', 1000);
    expect(await pools.recordThroughput('local', 'tiny', 1500)).toBe(1500);
    expect(await pools.recordThroughput('local', 'tiny', 1000)).toBeCloseTo(1400, 6);
  });
});
