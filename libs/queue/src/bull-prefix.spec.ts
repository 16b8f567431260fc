import { describe, expect, it } from '@jest/globals';
import { keySlot } from '#libs/redis';
import { bullPrefix } from './bull-prefix.js';

describe('bullPrefix', () => {
  it("is the prefix as a hash tag, so every key of every queue shares one slot (BullMQ's rule for Cluster)", () => {
    expect(bullPrefix('switchyard')).toBe('{switchyard}');
    const keys = ['wait', 'active', 'meta', 'id', 'events'].map(
      (k) => `${bullPrefix('switchyard')}:inference-local.m:${k}`,
    );
    expect(new Set(keys.map(keySlot)).size).toBe(1);
  });

  it('keeps a prefix that already holds a tag, so applying it twice changes nothing', () => {
    expect(bullPrefix(bullPrefix('switchyard'))).toBe('{switchyard}');
    expect(bullPrefix('{tenant-a}:jobs')).toBe('{tenant-a}:jobs');
  });
});
