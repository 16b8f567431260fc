import { describe, expect, it } from '@jest/globals';
import { SCENARIOS } from './scenarios.js';
import { generateWorkload, INTERACTIVE_MAX_ITEMS, RESTRICTED_MAX_ITEMS } from './workload.js';

const MINUTE = 60_000;

describe('generateWorkload', () => {
  const spec = SCENARIOS.find((s) => s.name === 'burst')!.workload;
  const items = generateWorkload(spec);
  const batches = new Map<number, typeof items>();
  for (const it of items) batches.set(it.batch, [...(batches.get(it.batch) ?? []), it]);

  it('is the same for the same seed and different for another', () => {
    expect(generateWorkload(spec)).toEqual(items);
    expect(generateWorkload({ ...spec, seed: spec.seed + 1 })).not.toEqual(items);
  });

  it('gives every item of a batch one arrival, deadline and sensitivity, like a submission', () => {
    for (const batch of batches.values()) {
      expect(new Set(batch.map((i) => `${i.arrivalAt}:${i.deadline}:${i.sensitivity}`)).size).toBe(1);
    }
  });

  it('mixes sizes with a heavy tail, and every sensitivity', () => {
    const inputs = items.map((i) => i.inputTokens).sort((a, b) => a - b);
    expect(inputs[Math.floor(inputs.length * 0.999)]).toBeGreaterThan(10 * inputs[Math.floor(inputs.length / 2)]);
    expect(new Set(items.map((i) => i.sensitivity))).toEqual(
      new Set(['public', 'internal', 'confidential', 'restricted']),
    );
  });

  it('keeps deadlines of seconds for small submissions, and minutes for small restricted ones', () => {
    for (const batch of batches.values()) {
      const dueIn = batch[0].deadline - batch[0].arrivalAt;
      if (dueIn < 2 * MINUTE)
        expect(batch.length).toBeLessThanOrEqual(
          batch[0].sensitivity === 'restricted' ? RESTRICTED_MAX_ITEMS.interactive : INTERACTIVE_MAX_ITEMS,
        );
      if (dueIn <= 30 * MINUTE && batch[0].sensitivity === 'restricted')
        expect(batch.length).toBeLessThanOrEqual(RESTRICTED_MAX_ITEMS.minutes);
    }
  });
});
