import { describe, expect, it } from '@jest/globals';
import { SumFolds, type PendingFold } from './sum-folds.js';

/** A send that records each call and answers when told to. */
function held() {
  const calls: PendingFold[][] = [];
  const answers: Array<(err?: Error) => void> = [];
  const send = (_decay: number, folds: PendingFold[]) => {
    calls.push(folds.map((f) => ({ ...f, increments: { ...f.increments } })));
    return new Promise<void>((resolve, reject) => answers.push((err) => (err ? reject(err) : resolve())));
  };
  return { calls, answers, send };
}

const tick = () => new Promise((r) => setImmediate(r));

/** One sample folded the way TokenCalibration's foldRatio and the script do it: every sum × d, plus the sample. */
const foldOne = (s: { actual: number; expected: number }, x: { actual: number; expected: number }) => ({
  actual: s.actual * 0.98 + x.actual,
  expected: s.expected * 0.98 + x.expected,
});

describe('SumFolds', () => {
  it('sends a lone sample at once, and the samples one caller records together in one call', async () => {
    const { calls, answers, send } = held();
    const folds = new SumFolds(0.98, send);
    const a = folds.record('input:summarize', { actual: 47, expected: 80 });
    const b = folds.record('output:summarize', { actual: 12, expected: 64 });
    await tick();
    expect(calls).toEqual([
      [
        { field: 'input:summarize', count: 1, increments: { actual: 47, expected: 80 } },
        { field: 'output:summarize', count: 1, increments: { actual: 12, expected: 64 } },
      ],
    ]);
    answers[0]();
    await expect(Promise.all([a, b])).resolves.toEqual([undefined, undefined]);
  });

  it('folds what arrives while a call is in flight into one next call, equal to folding each in turn', async () => {
    const { calls, answers, send } = held();
    const folds = new SumFolds(0.98, send);
    const first = folds.record('f', { actual: 10, expected: 20 });
    await tick();
    const samples = [
      { actual: 5, expected: 9 },
      { actual: 7, expected: 3 },
      { actual: 11, expected: 13 },
    ];
    const later = samples.map((s) => folds.record('f', s));
    await tick();
    expect(calls).toHaveLength(1); // the others wait for the call in flight
    answers[0]();
    await first;
    await tick();
    expect(calls).toHaveLength(2);
    const [{ count, increments }] = calls[1];
    expect(count).toBe(3);
    // What Redis holds after the first call, folded with the batch as the script does (×dᵏ, + increments) …
    const start = { actual: 10, expected: 20 };
    const batched = {
      actual: start.actual * 0.98 ** count + increments.actual,
      expected: start.expected * 0.98 ** count + increments.expected,
    };
    // … equals folding each sample in turn.
    const oneByOne = samples.reduce(foldOne, start);
    expect(batched.actual).toBeCloseTo(oneByOne.actual, 9);
    expect(batched.expected).toBeCloseTo(oneByOne.expected, 9);
    answers[1]();
    await Promise.all(later);
  });

  it('rejects every sample of a failed call with its error, and sends the next samples as usual', async () => {
    const { calls, answers, send } = held();
    const folds = new SumFolds(0.98, send);
    const lost = folds.record('f', { actual: 1, expected: 1 });
    await tick();
    answers[0](new Error('Redis is gone'));
    await expect(lost).rejects.toThrow('Redis is gone');
    const next = folds.record('f', { actual: 2, expected: 2 });
    await tick();
    expect(calls[1]).toEqual([{ field: 'f', count: 1, increments: { actual: 2, expected: 2 } }]);
    answers[1]();
    await next;
  });
});
