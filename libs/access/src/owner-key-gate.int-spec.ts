import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { ApiKeyStore } from './api-key-store.js';
import { KeyRateLimiter } from './key-rate-limiter.js';
import { ownerKeyGate } from './owner-key-gate.js';

describe('work done later on a key’s behalf takes from its limits (real Redis)', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    await redis.quit();
  });

  const setup = () => {
    const prefix = `t-${randomUUID().slice(0, 8)}`;
    const keys = new ApiKeyStore(redis, prefix);
    return {
      keys,
      gate: ownerKeyGate(keys, new KeyRateLimiter(redis, prefix), { requestsPerMinute: 0, tokensPerMinute: 0 }),
    };
  };
  // Mid-minute: both calls land in one fixed window.
  const now = Math.floor(Date.now() / 60_000) * 60_000 + 10_000;

  it('admits up to the key’s tokens per minute, then refuses with the reason', async () => {
    const { keys, gate } = setup();
    const { key } = await keys.create({
      name: 'k',
      scopes: ['submit'],
      expiresAt: null,
      limits: { tokensPerMinute: 200 },
    });
    expect(await gate(key.id, 150, now)).toEqual({ allowed: true });
    expect(await gate(key.id, 150, now)).toEqual({
      allowed: false,
      reason: "over the owner key's limit: about 150 tokens; at most 200 submitted tokens per minute",
    });
    expect(await gate(key.id, 500, now)).toMatchObject({ allowed: false });
  });

  it('admits nothing for a key revoked or deleted since', async () => {
    const { keys, gate } = setup();
    const { key } = await keys.create({ name: 'k', scopes: ['submit'], expiresAt: null, limits: {} });
    await keys.revoke(key.id);
    expect(await gate(key.id, 1, now)).toEqual({ allowed: false, reason: `its owner key ${key.id} is revoked` });
    expect(await gate('key_gone', 1, now)).toEqual({
      allowed: false,
      reason: 'its owner key key_gone no longer exists',
    });
  });
});
