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
    expect(keys.pendingCallbacks()).toBe('p:sy:callbacks:pending');
  });

  // The transition scripts write these with the batch's hash in one step: they follow batch(id)'s name.
  it("names a batch's event stream and open estimates after its record", () => {
    const keys = new BatchKeys('p');
    expect(keys.events('b')).toBe(`${keys.batch('b')}:events`);
    expect(keys.estimates('b')).toBe(`${keys.batch('b')}:eta`);
  });
});
