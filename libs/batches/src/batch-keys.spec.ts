import { describe, expect, it } from '@jest/globals';
import { keySlot } from '#libs/redis';
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
    expect(keys.pendingCallbacks()).toBe('{p:sy}:callbacks:pending');
  });

  // The transition scripts write these with the batch's hash in one step: they follow batch(id)'s name.
  it("names a batch's event stream and open estimates after its record", () => {
    const keys = new BatchKeys('p');
    expect(keys.events('b')).toBe(`${keys.batch('b')}:events`);
    expect(keys.estimates('b')).toBe(`${keys.batch('b')}:eta`);
  });

  // What each script and MULTI is given must share one slot on a Redis Cluster (CROSSSLOT otherwise).
  const keys = new BatchKeys('switchyard');
  const slots = (...names: string[]) => new Set(names.map(keySlot));

  it("puts a batch's hash, items and backlog in one slot: the item scripts and creation touch them together", () => {
    const id = '3f0c9a52-2c1e-4a57-9d0b-2f6a7c1d9e10';
    const items = Array.from({ length: 50 }, (_, i) => keys.item(id, i));
    expect(slots(keys.batch(id), keys.batchBacklog(id), keys.events(id), keys.estimates(id), ...items).size).toBe(1);
  });

  it('puts the global records in one slot: creation indexes a batch in one MULTI', () => {
    const global = slots(
      keys.index(),
      keys.tenantIndex('acme'),
      keys.idempotency('retry-1'),
      keys.pendingOutputs(),
      keys.openBacklogs(),
      keys.pendingCallbacks(),
    );
    expect(global.size).toBe(1);
  });

  it('spreads batches by their id, apart from the global slot', () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((x) => `batch-${x}`);
    const batchSlots = slots(...ids.map((id) => keys.batch(id)));
    expect(batchSlots.size).toBeGreaterThan(1);
    expect(batchSlots.has(keySlot(keys.index()))).toBe(false);
  });
});
