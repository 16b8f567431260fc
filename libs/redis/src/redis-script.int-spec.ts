import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { CrossSlotKeys } from './key-slot.js';
import { defineScript, redisScript } from './redis-script.js';

/** Sets KEYS[1] to ARGV[1] and KEYS[2] to ARGV[2]; returns what it read back, so order mistakes show. */
const PAIR = redisScript<'first' | 'second', readonly [a: string, b: string], [string, string]>({
  name: 'sySpecPair',
  keys: ['first', 'second'],
  lua: `
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
return { redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]) }
`,
});

describe('defineScript (real Redis)', () => {
  let redis: Redis;
  // One hash tag: a script's keys must share a slot (checked on every call).
  const prefix = `{t-${randomUUID().slice(0, 8)}}`;

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('passes each key by its declared position, whatever order the call names them in', async () => {
    const pair = defineScript(redis, PAIR);
    const reply = await pair({ second: `${prefix}:b`, first: `${prefix}:a` }, ['one', 'two']);
    expect(reply).toEqual(['one', 'two']);
    expect(await redis.get(`${prefix}:a`)).toBe('one');
    expect(await redis.get(`${prefix}:b`)).toBe('two');
  });

  it('still runs after Redis forgot its scripts (a restart), and when defined twice on one client', async () => {
    const pair = defineScript(redis, PAIR);
    defineScript(redis, PAIR);
    await redis.script('FLUSH');
    expect(await pair({ first: `${prefix}:c`, second: `${prefix}:d` }, ['x', 'y'])).toEqual(['x', 'y']);
  });

  it('refuses keys of two hash slots before Redis sees them, as a Cluster would (CROSSSLOT)', async () => {
    const pair = defineScript(redis, PAIR);
    await expect(pair({ first: `${prefix}:e`, second: 'elsewhere:f' }, ['x', 'y'])).rejects.toThrow(CrossSlotKeys);
    expect(await redis.get(`${prefix}:e`)).toBeNull();
  });
});
