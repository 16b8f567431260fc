import { describe, expect, it } from '@jest/globals';
import { FIT_MIN_SAMPLES, fitLatency, foldFit, type FitSums } from './latency-fit.js';

/** A fixed pseudo-random sequence in [0, 1): the same points every run. */
function noise(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

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

  it('never reads calls of nearly one size whose durations vary with load as a slow provider', () => {
    // A burst of like items (about 300 tokens, a token or two apart) on a busy worker: 2 to 80 ms, whatever the
    // size. Least squares finds some slope in any such sample; unchecked it said as little as 3 tokens/s, and
    // routing took the cloud for too slow to meet a 30-minute deadline. Over 200 such samples: a call of the mean
    // size is never predicted slower than the calls were, and a slope is rarely believed at all.
    let believed = 0;
    for (let seed = 1; seed <= 200; seed += 1) {
      const next = noise(seed);
      const s = calls(Array.from({ length: 150 }, (_, i) => [300 + (i % 3), 2 + 78 * next()]))!;
      const fit = fitLatency(s)!;
      const meanX = s.x / s.w;
      const meanY = s.y / s.w;
      const predicted = fit.latencyMs + (fit.tokensPerSec === null ? 0 : (1000 * meanX) / fit.tokensPerSec);
      expect({ seed, predicted: Math.min(predicted, 1.1 * meanY) }).toEqual({ seed, predicted });
      if (fit.tokensPerSec !== null) believed += 1;
    }
    expect(believed).toBeLessThanOrEqual(5);
  });

  it('still reads a speed through the same scatter when the sizes really differ', () => {
    // 200 ms latency, 100 tokens/s, ±40 ms of noise, sizes from 100 to 2,000 tokens.
    const next = noise(7);
    const s = calls(
      Array.from({ length: 150 }, (_, i) => [
        100 + (i % 20) * 100,
        200 + 10 * (100 + (i % 20) * 100) + 80 * (next() - 0.5),
      ]),
    );
    const fit = fitLatency(s)!;
    expect(fit.tokensPerSec).toBeGreaterThan(95);
    expect(fit.tokensPerSec).toBeLessThan(105);
    expect(fit.latencyMs).toBeGreaterThan(150);
    expect(fit.latencyMs).toBeLessThan(250);
  });

  it('fits through the origin where the best line would need a negative latency', () => {
    // Durations that grow faster than in proportion to size: the unconstrained line crosses at -100 ms.
    const s = calls(Array.from({ length: 20 }, (_, i) => [100 + 50 * i, 2 * (100 + 50 * i) - 100]));
    const fit = fitLatency(s)!;
    expect(fit.latencyMs).toBe(0);
    // All of each duration is generation: the speed of the line through the origin, not of the steeper one.
    expect(fit.tokensPerSec).toBeGreaterThan(500);
    expect(fit.tokensPerSec).toBeLessThan(600);
  });

  it('believes no slope from sums folded before y² was kept', () => {
    const s = calls(Array.from({ length: 20 }, (_, i) => [100 + 50 * i, 400 + 20 * (100 + 50 * i)]))!;
    const { yy: _yy, ...old } = s;
    const fit = fitLatency(old)!;
    expect(fit.tokensPerSec).toBeNull();
    expect(fit.latencyMs).toBeCloseTo(s.y / s.w, 6);
  });
});
