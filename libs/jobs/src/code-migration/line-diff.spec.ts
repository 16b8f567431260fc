import { describe, expect, it } from '@jest/globals';
import { diffLines, type LineEdit } from './line-diff.js';

/** Applies an edit script to `a`; throws when the script does not fit `a` and `b`. */
function apply(a: string[], b: string[], edits: LineEdit[]): string[] {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  for (const edit of edits) {
    if (edit === 'equal') {
      if (a[i] !== b[j]) throw new Error(`"equal" pairs different lines ${i} and ${j}`);
      out.push(a[i++]);
      j++;
    } else if (edit === 'delete') i++;
    else out.push(b[j++]);
  }
  if (i !== a.length || j !== b.length) throw new Error('the script does not consume both sides');
  return out;
}

/** Length of the longest common subsequence, by dynamic programming: the reference for minimality. */
function lcsLength(a: string[], b: string[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = 0;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = a[i - 1] === b[j - 1] ? diagonal + 1 : Math.max(row[j], row[j - 1]);
      diagonal = above;
    }
  }
  return row[b.length];
}

/** Deterministic pseudo-random numbers (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('diffLines', () => {
  it('keeps equal lines and marks the changed ones', () => {
    expect(diffLines(['a', 'b', 'c'], ['a', 'x', 'c'])).toEqual(['equal', 'delete', 'insert', 'equal']);
    expect(diffLines([], ['a'])).toEqual(['insert']);
    expect(diffLines(['a'], [])).toEqual(['delete']);
    expect(diffLines([], [])).toEqual([]);
    expect(diffLines(['a'], ['b'])).toEqual(['delete', 'insert']);
  });

  it('finds a shortest edit script for random small files (checked against LCS by dynamic programming)', () => {
    const next = random(42);
    for (let round = 0; round < 500; round++) {
      const alphabet = 1 + Math.floor(next() * 5);
      const line = () => String.fromCharCode(97 + Math.floor(next() * alphabet));
      const a = Array.from({ length: Math.floor(next() * 25) }, line);
      const b = Array.from({ length: Math.floor(next() * 25) }, line);
      const edits = diffLines(a, b);
      expect(apply(a, b, edits)).toEqual(b);
      expect(edits.filter((e) => e === 'equal').length).toBe(lcsLength(a, b));
    }
  });

  it('puts deletions before insertions inside a run of changes', () => {
    const edits = diffLines(['a', 'b', 'c', 'd'], ['x', 'b', 'y', 'z']);
    expect(edits.join(' ')).not.toMatch(/insert delete/);
  });

  it('diffs a completely rewritten 5000-line file quickly and in linear memory', () => {
    const a = Array.from({ length: 5000 }, (_, i) => `old ${i}\n`);
    const b = Array.from({ length: 5000 }, (_, i) => `new ${i}\n`);
    const started = Date.now();
    const edits = diffLines(a, b);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(edits.filter((e) => e === 'delete')).toHaveLength(5000);
    expect(edits.filter((e) => e === 'insert')).toHaveLength(5000);
  });
});
