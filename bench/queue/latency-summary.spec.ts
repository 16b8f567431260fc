import { describe, expect, it } from '@jest/globals';
import { percentile } from './latency-summary.js';

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
