import { describe, expect, it } from '@jest/globals';
import { FIT_MIN_SAMPLES, fitLatency, foldFit, type FitSums } from './latency-fit.js';

const calls = (points: Array<[number, number]>): FitSums | undefined =>
  points.reduce<FitSums | undefined>((s, [x, y]) => foldFit(s, x, y), undefined);

describe('latency fit', () => {
  it('separates a provider’s latency from its speed, given calls of different sizes', () => {
    // 400 ms to answer, then 50 tokens a second (20 ms a token).
    const s = calls(Array.from({ length: 20 }, (_, i) => [100 + 50 * i, 400 + 20 * (100 + 50 * i)]));
    const fit = fitLatency(s)!;
    expect(fit.latencyMs).toBeCloseTo(400, 6);
    expect(fit.tokensPerSec).toBeCloseTo(50, 6);
  });

  it('says nothing from too few calls, or calls all of one size', () => {
    expect(
      fitLatency(calls(Array.from({ length: FIT_MIN_SAMPLES - 1 }, (_, i) => [100 * (i + 1), 1000 + i]))),
    ).toBeNull();
    expect(fitLatency(calls(Array.from({ length: 20 }, () => [100, 900])))).toBeNull();
  });

  it('reads durations that do not grow with size as latency alone', () => {
    const fit = fitLatency(calls(Array.from({ length: 10 }, (_, i) => [10 * (i + 1), i % 2 === 0 ? 250 : 260])))!;
    expect(fit.tokensPerSec === null || fit.tokensPerSec > 1000).toBe(true);
    expect(fit.latencyMs).toBeGreaterThan(240);
    expect(fit.latencyMs).toBeLessThan(270);
  });

  it('follows a provider that slows down', () => {
    const fast = Array.from({ length: 100 }, (_, i): [number, number] => [
      100 + (i % 10) * 50,
      300 + 10 * (100 + (i % 10) * 50),
    ]);
    const slow = Array.from({ length: 100 }, (_, i): [number, number] => [
      100 + (i % 10) * 50,
      2000 + 10 * (100 + (i % 10) * 50),
    ]);
    expect(fitLatency(calls([...fast, ...slow]))!.latencyMs).toBeGreaterThan(1700);
  });
});
