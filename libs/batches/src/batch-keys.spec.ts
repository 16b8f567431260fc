import { describe, expect, it } from '@jest/globals';
import { BatchKeys } from './batch-keys.js';

// Records written by earlier versions live under these names: a change here orphans them.
describe('BatchKeys', () => {
  it('names every record key as stored so far', () => {
    const keys = new BatchKeys('p');
    expect(keys.batch('b')).toBe('p:sy:batch:b');
    expect(keys.item('b', 7)).toBe('p:sy:item:b:7');
    expect(keys.index()).toBe('p:sy:batches');
    expect(keys.tenantIndex('acme')).toBe('p:sy:batches:tenant:acme');
    expect(keys.idempotency('k')).toBe('p:sy:idem:k');
    expect(keys.pendingOutputs()).toBe('p:sy:outputs:pending');
    expect(keys.backlog('cloud', 'frontier')).toBe('p:sy:backlog:cloud:frontier');
  });
});
