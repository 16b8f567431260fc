import { describe, expect, it } from '@jest/globals';
import type { DeviceMemory } from './sequence-capacity.js';
import { SequenceGovernor } from './sequence-governor.js';

const GiB = 2 ** 30;
const footprint = { modelBytes: 4 * GiB, contextBytes: (n: number) => n * GiB };

function governor(freeGiB: () => number, now = () => 0, utilization = 1) {
  const applied: number[] = [];
  const probe = async (): Promise<DeviceMemory> => ({ kind: 'gpu', totalBytes: 24 * GiB, freeBytes: freeGiB() * GiB });
  // Allocated 8 sequences: holds 4 + 8 = 12 GiB.
  const g = new SequenceGovernor({ probe, footprint, utilization, allocated: 8, apply: (n) => applied.push(n), now });
  return { g, applied };
}

describe('SequenceGovernor', () => {
  it('keeps every allocated sequence while memory is as it was', async () => {
    const { g, applied } = governor(() => 12);
    expect(await g.check()).toBe(8);
    expect(applied).toEqual([]);
  });

  it('shrinks when another process takes VRAM and grows back when it is freed', async () => {
    let free = 12; // we hold 12 GiB (weights 4 + 8 sequences × 1), 12 more are free
    const { g, applied } = governor(
      () => free,
      () => 0,
      0.9,
    );
    expect(await g.check()).toBe(8);
    free = 0; // a neighbour took every free byte: our 10% headroom is gone → 0.9 × 12 = 10.8 → 4 + 6
    expect(await g.check()).toBe(6);
    free = 12;
    expect(await g.check()).toBe(8);
    expect(applied).toEqual([6, 8]);
  });

  it('never goes below one sequence', async () => {
    const { g } = governor(() => -100);
    expect(await g.check()).toBe(1);
  });

  it('runs one fewer after an out-of-memory error, and only later lets memory readings raise it again', async () => {
    let t = 0;
    const { g, applied } = governor(
      () => 12,
      () => t,
    );
    expect(g.onOutOfMemory()).toBe(7);
    expect(await g.check()).toBe(7);
    t = 61_000;
    expect(await g.check()).toBe(8);
    expect(applied).toEqual([7, 8]);
  });
});
