import { describe, expect, it } from '@jest/globals';
import { PendingWrites } from './pending-writes.js';

describe('PendingWrites', () => {
  it('a write that failed while the item went on fails the job when it ends, once every other write is done', async () => {
    const writes = new PendingWrites();
    writes.add(Promise.reject(new Error('circuit write failed')));
    let later = false;
    writes.add(new Promise<void>((resolve) => setTimeout(() => resolve(void (later = true)), 20)));
    await expect(writes.settle()).rejects.toThrow('circuit write failed');
    expect(later).toBe(true);
  });

  it('settles once per write: a second settle waits only for writes added since', async () => {
    const writes = new PendingWrites();
    writes.add(Promise.reject(new Error('once')));
    await expect(writes.settle()).rejects.toThrow('once');
    await expect(writes.settle()).resolves.toBeUndefined();
  });
});
