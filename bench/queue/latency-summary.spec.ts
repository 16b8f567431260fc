import { describe, expect, it } from '@jest/globals';
import { commandDelta, median, percentile, summarize, type Throughput } from './latency-summary.js';

describe('percentile (nearest rank)', () => {
  it('picks the smallest value with at least q of the values at or below it', () => {
    const values = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(percentile(values, 0.5)).toBe(5);
    expect(percentile(values, 0.95)).toBe(10);
    expect(percentile(values, 0.1)).toBe(1);
    expect(percentile([42], 0.95)).toBe(42);
  });

  it('is NaN for no values rather than a made-up zero', () => {
    expect(percentile([], 0.5)).toBeNaN();
  });
});

describe('median', () => {
  it('is the middle value, or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

describe('commandDelta', () => {
  it('keeps what each command grew by, new commands included, none that stood still', () => {
    expect(commandDelta({ get: 5, set: 2 }, { get: 9, set: 2, xadd: 3 })).toEqual({ get: 4, xadd: 3 });
  });
});

describe('summarize', () => {
  const phase = (itemsPerSec: number, commands: Record<string, number>, cpu?: [number, number]): Throughput => ({
    itemsPerSec,
    commands,
    ...(cpu ? { workerCpuMs: cpu[0], apiCpuMs: cpu[1] } : {}),
  });
  /** A phase with the CPU Redis and the bench's process used. */
  const shared = (p: Throughput, redisCpuMs: number, benchCpuMs: number): Throughput => ({
    ...p,
    redisCpuMs,
    benchCpuMs,
  });

  it("takes the median of the rounds' own ratios, not the ratio of the medians, so drift within a run cancels", () => {
    // The machine slows in round 2 and speeds up in round 3: each round's sides move together.
    const rounds = [
      { raw: phase(400, {}), switchyard: phase(240, {}) },
      { raw: phase(200, {}), switchyard: phase(170, {}) },
      { raw: phase(600, {}), switchyard: phase(480, {}) },
    ];
    const result = summarize({ rounds, lone: { raw: [1], switchyard: [1] } }, 100);
    expect(result.rounds.map((r) => r.ratio)).toEqual([0.6, 0.85, 0.8]);
    expect(result.ratio).toBe(0.8);
    // Each side's own median (400 and 240) would read 0.6: two phases far apart in time.
    expect(result.raw.itemsPerSec).toBe(400);
    expect(result.switchyard.itemsPerSec).toBe(240);
  });

  it('counts commands and CPU per item over every round, and p50/p95 over the lone items', () => {
    const rounds = [
      {
        raw: shared(phase(500, { evalsha: 200, xadd: 400 }), 20, 70),
        switchyard: shared(phase(300, { hset: 900, xadd: 800 }, [220, 60]), 40, 12),
      },
      {
        raw: shared(phase(500, { evalsha: 200, xadd: 400 }), 16, 90),
        switchyard: shared(phase(300, { hset: 900, xadd: 800 }, [180, 40]), 30, 8),
      },
    ];
    const lone = { raw: [2, 3, 2, 5, 2, 2, 3, 2, 2, 2], switchyard: [12, 14, 13, 30, 12, 13, 12, 14, 13, 12] };
    const result = summarize({ rounds, lone }, 100);
    expect(result.raw).toEqual({
      itemsPerSec: 500,
      p50Ms: 2,
      p95Ms: 5,
      commandsPerItem: 6,
      topCommandsPerItem: { xadd: 4, evalsha: 2 },
      redisCpuMsPerItem: 0.18,
      benchCpuMsPerItem: 0.8,
    });
    expect(result.switchyard).toMatchObject({
      commandsPerItem: 17,
      topCommandsPerItem: { hset: 9, xadd: 8 },
      workerCpuMsPerItem: 2,
      apiCpuMsPerItem: 0.5,
      redisCpuMsPerItem: 0.35,
      benchCpuMsPerItem: 0.1,
      p50Ms: 13,
      p95Ms: 30,
    });
    expect(result.addedP95Ms).toBe(25);
  });
});
