import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { PoolRegistry } from './pool-registry.js';

describe('PoolRegistry folds (real Redis)', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('loses no sample of a burst of items finishing together, and folds them as one by one', async () => {
    const pools = new PoolRegistry(redis, `t-${randomUUID().slice(0, 8)}`, 10_000);
    const outputs = Array.from({ length: 60 }, (_, i) => 10 + (i % 7) * 9);
    await Promise.all(
      outputs.map((out) =>
        pools.recordTokenRatios(
          'summarize',
          { inputTokens: 40, outputTokens: out },
          { inputTokens: 50, outputTokens: 64 },
        ),
      ),
    );
    const learned = (await pools.tokenCalibration()).describe().summarize;
    expect(learned.input).toEqual({ ratio: expect.any(Number), samples: 60 });
    expect(learned.output.samples).toBe(60);
    expect(learned.input.ratio).toBeCloseTo(40 / 50, 3);
    // The output ratio as the decayed sums give it folding each item in turn.
    const oneByOne = outputs.reduce((s, out) => ({ actual: s.actual * 0.98 + out, expected: s.expected * 0.98 + 64 }), {
      actual: 0,
      expected: 0,
    });
    expect(learned.output.ratio).toBeCloseTo(oneByOne.actual / oneByOne.expected, 3); // describe() rounds to 3 places
  });

  it('keeps each provider’s latency fit apart when their calls finish together', async () => {
    const pools = new PoolRegistry(redis, `t-${randomUUID().slice(0, 8)}`, 10_000);
    await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => pools.recordCallTiming('fast', 100 + i * 50, 200 + i * 5)),
      ...Array.from({ length: 20 }, (_, i) => pools.recordCallTiming('slow', 100 + i * 50, 2000 + i * 50)),
    ]);
    const [fast, slow] = await Promise.all([pools.latencyFit('fast'), pools.latencyFit('slow')]);
    expect(fast).toMatchObject({ samples: 20 });
    expect(slow).toMatchObject({ samples: 20 });
    // Each a straight line: 0.1 ms a token over 190 ms, and 1 ms a token over 1,900 ms.
    expect(fast!.latencyMs).toBeCloseTo(190, 6);
    expect(fast!.tokensPerSec).toBeCloseTo(10_000, 3);
    expect(slow!.latencyMs).toBeCloseTo(1900, 6);
    expect(slow!.tokensPerSec).toBeCloseTo(1000, 3);
  });
});
