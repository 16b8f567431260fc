import { describe, expect, it } from '@jest/globals';
import { CrossSlotKeys, assertOneSlot, globalKeyPrefix, hashTag, hashedPart, keySlot } from './key-slot.js';

describe('keySlot', () => {
  it('is CRC16/XMODEM modulo 16384, as in the Redis Cluster specification', () => {
    // The specification's check value: CRC16 of "123456789" is 0x31C3.
    expect(keySlot('123456789')).toBe(0x31c3);
    // As redis-server 7.0 answers CLUSTER KEYSLOT (test/cluster-keyspace.e2e-spec.ts asks a real Cluster too).
    // '{}{a}': an empty first tag hashes the whole key (cluster-key-slot, ioredis's helper, answers 10276).
    const known: Record<string, number> = {
      foo: 12182,
      'switchyard:sy:batch:{b}': 3300,
      '{switchyard:sy}:batches': 3438,
      'ü{}x': 2794,
      '{}{a}': 13650,
      'a{b': 13340,
    };
    for (const [key, slot] of Object.entries(known)) expect(keySlot(key)).toBe(slot);
  });

  it('hashes only the first non-empty tag', () => {
    expect(hashedPart('p:sy:item:{b-1}:7')).toBe('b-1');
    expect(hashedPart('{}{a}')).toBe('{}{a}');
    expect(hashedPart('a{b')).toBe('a{b');
    expect(keySlot('p:sy:item:{b-1}:7')).toBe(keySlot('q:{b-1}'));
  });

  it('refuses keys of two slots, and a tag that holds braces', () => {
    expect(() => assertOneSlot('a multi', ['{x}:1', '{x}:2'])).not.toThrow();
    expect(() => assertOneSlot('a multi', ['{x}:1', '{y}:2'])).toThrow(CrossSlotKeys);
    // Two different tags of one slot are one slot, as on a Cluster: the check compares slots, not only the text.
    let twin = 0;
    while (keySlot(`k${twin}`) !== keySlot('foo')) twin += 1;
    expect(() => assertOneSlot('a multi', ['{foo}:1', `{k${twin}}:2`])).not.toThrow();
    expect(() => assertOneSlot('a multi', ['{foo}:1', '{foo}:2', '{y}:3'])).toThrow(CrossSlotKeys);
    expect(() => hashTag('a}b')).toThrow();
    expect(globalKeyPrefix('switchyard')).toBe('{switchyard:sy}');
  });
});
