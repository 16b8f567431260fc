import { describe, expect, it } from '@jest/globals';
import { BatchKeys } from './batch-keys.js';

// Records live under these names: a change here orphans them. The Cluster layout (issue 14 §4) renamed them
// once: a batch's records carry its id as hash tag, the global ones `{<prefix>:sy}` (docs/operations.md).
describe('BatchKeys', () => {
  it('names every record key as stored', () => {
    const keys = new BatchKeys('p');
    expect(keys.batch('b')).toBe('p:sy:batch:{b}');
    expect(keys.item('b', 7)).toBe('p:sy:item:{b}:7');
    expect(keys.batchBacklog('b')).toBe('p:sy:backlog:{b}');
    expect(keys.index()).toBe('{p:sy}:batches');
    expect(keys.tenantIndex('acme')).toBe('{p:sy}:batches:tenant:acme');
    expect(keys.idempotency('k')).toBe('{p:sy}:idem:k');
    expect(keys.pendingOutputs()).toBe('{p:sy}:outputs:pending');
    expect(keys.openBacklogs()).toBe('{p:sy}:backlog:open');
  });
});
