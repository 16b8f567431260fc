import { describe, expect, it } from '@jest/globals';
import { StreamSlots } from './stream-slots.js';

describe('StreamSlots', () => {
  it('refuses a key past its own limit while others still get slots, and frees a slot once per release', () => {
    const slots = new StreamSlots(10, 2);
    const a1 = slots.acquire('a');
    const a2 = slots.acquire('a');
    expect(slots.acquire('a')).toEqual({ refused: 'key', limit: 2 });
    expect('release' in slots.acquire('b')).toBe(true);
    if (!('release' in a1) || !('release' in a2)) throw new Error('expected slots');
    a1.release();
    a1.release(); // a second release of the same slot gives nothing back twice
    expect(slots.open).toBe(2);
    expect('release' in slots.acquire('a')).toBe(true);
    expect(slots.acquire('a')).toEqual({ refused: 'key', limit: 2 });
  });

  it('refuses everyone once the process holds its limit, until one is released', () => {
    const slots = new StreamSlots(3, 5);
    const held = ['a', 'b', 'c'].map((k) => slots.acquire(k));
    expect(slots.acquire('d')).toEqual({ refused: 'process', limit: 3 });
    const first = held[0];
    if (!('release' in first)) throw new Error('expected a slot');
    first.release();
    expect('release' in slots.acquire('d')).toBe(true);
  });
});
