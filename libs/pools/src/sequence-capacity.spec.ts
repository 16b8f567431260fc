import { describe, expect, it } from '@jest/globals';
import { planSequences, type ModelFootprint } from './sequence-capacity.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
// 7B Q4 shape: ~4 GiB weights; 512 MiB KV per sequence at 4k context; 300 MiB compute buffers.
const sevenB: ModelFootprint = { modelBytes: 4 * GiB, contextBytes: (n) => 300 * MiB + n * 512 * MiB };
const gpu = (freeGiB: number) => ({ kind: 'gpu' as const, totalBytes: 24 * GiB, freeBytes: freeGiB * GiB });

describe('planSequences', () => {
  it('fits as many sequences as free VRAM × utilization allows after the weights', () => {
    const plan = planSequences({ device: gpu(24), footprint: sevenB, utilization: 0.9, cap: null });
    // 0.9 × 24 GiB = 21.6 GiB; 21.6 − 4 − 0.29 = 17.3 GiB → 34 sequences of 512 MiB
    expect(plan.sequences).toBe(34);
    expect(plan.fits).toBe(true);
    expect(plan.reason).toMatch(/bound by memory/);
    expect(plan.modelBytes + plan.contextBytes).toBeLessThanOrEqual(plan.budgetBytes);
    expect(sevenB.modelBytes + sevenB.contextBytes(35)).toBeGreaterThan(plan.budgetBytes);
  });

  it('honours the configured maximum', () => {
    const plan = planSequences({ device: gpu(24), footprint: sevenB, utilization: 0.9, cap: 8 });
    expect(plan.sequences).toBe(8);
    expect(plan.reason).toMatch(/configured maximum/);
  });

  it('says the model does not fit, with the numbers, when one sequence does not', () => {
    const plan = planSequences({ device: gpu(4), footprint: sevenB, utilization: 0.9, cap: null });
    expect(plan.fits).toBe(false);
    expect(plan.sequences).toBe(0);
    expect(plan.reason).toMatch(/does not fit: weights 4096 MiB \+ one sequence 812 MiB > budget 3686 MiB/);
  });

  it('shrinks when another process takes VRAM, and grows back when it is returned', () => {
    const held = 4 * GiB + sevenB.contextBytes(34);
    const before = planSequences({ device: gpu(24), footprint: sevenB, utilization: 0.9, cap: null });
    // We hold our weights + context; a neighbour takes 8 GiB of what was left.
    const squeezed = planSequences({
      device: gpu(24 - held / GiB - 8),
      footprint: sevenB,
      utilization: 0.9,
      cap: null,
      heldBytes: held,
    });
    expect(squeezed.sequences).toBeLessThan(before.sequences);
    expect(squeezed.sequences).toBeGreaterThan(0);
    const returned = planSequences({
      device: gpu(24 - held / GiB),
      footprint: sevenB,
      utilization: 0.9,
      cap: null,
      heldBytes: held,
    });
    expect(returned.sequences).toBe(before.sequences);
  });

  it('bounds CPU pools by RAM and by cores', () => {
    const cpu = { kind: 'cpu' as const, totalBytes: 24 * GiB, freeBytes: 20 * GiB, cores: 2 };
    expect(planSequences({ device: cpu, footprint: sevenB, utilization: 0.9, cap: null })).toMatchObject({
      sequences: 4,
      reason: expect.stringMatching(/CPU cores/),
    });
    const small = { ...cpu, freeBytes: 5.5 * GiB, cores: 16 };
    expect(planSequences({ device: small, footprint: sevenB, utilization: 0.9, cap: null }).sequences).toBe(1);
  });
});
