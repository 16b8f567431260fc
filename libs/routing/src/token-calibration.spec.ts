import { describe, expect, it } from '@jest/globals';
import { RATIO_MIN_SAMPLES, TokenCalibration, foldRatio, ratioOf } from './token-calibration.js';

const estimate = (inputTokens: number, expectedOutputTokens: number) => ({ inputTokens, expectedOutputTokens });

describe('token calibration', () => {
  it('leaves estimates alone until a kind has enough completions, then corrects input and output apart', () => {
    const c = new TokenCalibration();
    for (let i = 0; i < RATIO_MIN_SAMPLES - 1; i++)
      c.record('summarize', { inputTokens: 120, outputTokens: 300 }, { inputTokens: 100, outputTokens: 200 });
    expect(c.apply('summarize', estimate(100, 200))).toEqual(estimate(100, 200));
    c.record('summarize', { inputTokens: 120, outputTokens: 300 }, { inputTokens: 100, outputTokens: 200 });
    expect(c.ratio('input', 'summarize')).toBeCloseTo(1.2, 9);
    expect(c.ratio('output', 'summarize')).toBeCloseTo(1.5, 9);
    expect(c.apply('summarize', estimate(100, 200))).toEqual(estimate(120, 300));
    // Other kinds keep their own ratios.
    expect(c.apply('classify', estimate(100, 8))).toEqual(estimate(100, 8));
  });

  it('weighs items by their size: a long item outweighs a short one', () => {
    let sums = foldRatio(undefined, 1000, 500, 1); // 2× on a long item
    for (let i = 0; i < 5; i++) sums = foldRatio(sums, 5, 10, 1); // 0.5× on five short ones
    expect(ratioOf(sums)).toBeCloseTo(1025 / 550, 9);
  });

  it('follows a change: after the model starts writing half as much, the ratio moves most of the way within 100 items', () => {
    const c = new TokenCalibration();
    for (let i = 0; i < 200; i++)
      c.record('extract', { inputTokens: 100, outputTokens: 200 }, { inputTokens: 100, outputTokens: 100 });
    expect(c.ratio('output', 'extract')).toBeCloseTo(2, 6);
    for (let i = 0; i < 100; i++)
      c.record('extract', { inputTokens: 100, outputTokens: 100 }, { inputTokens: 100, outputTokens: 100 });
    expect(c.ratio('output', 'extract')).toBeLessThan(1.15);
  });

  it('never estimates an answer longer than the model may write', () => {
    const c = new TokenCalibration();
    for (let i = 0; i < RATIO_MIN_SAMPLES; i++)
      c.record('migrate', { inputTokens: 100, outputTokens: 150 }, { inputTokens: 100, outputTokens: 100 });
    expect(c.apply('migrate', { ...estimate(100, 1000), maxOutputTokens: 2048 })).toEqual(estimate(100, 1500));
    expect(c.apply('migrate', { ...estimate(100, 2048), maxOutputTokens: 2048 })).toEqual(estimate(100, 2048));
    expect(c.apply('migrate', estimate(100, 2048))).toEqual(estimate(100, 3072));
  });

  it('keeps the correction within bounds', () => {
    const c = new TokenCalibration();
    for (let i = 0; i < 10; i++)
      c.record('migrate', { inputTokens: 100, outputTokens: 100 }, { inputTokens: 1, outputTokens: 1 });
    expect(c.ratio('output', 'migrate')).toBe(4);
    for (let i = 0; i < 10; i++)
      c.record('classify', { inputTokens: 0, outputTokens: 0 }, { inputTokens: 100, outputTokens: 100 });
    expect(c.ratio('input', 'classify')).toBe(0.25);
    expect(c.apply('classify', estimate(2, 2))).toEqual(estimate(1, 1));
  });
});
