import { describe, expect, it } from '@jest/globals';
import { jsonTooDeepAt } from './json-depth.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');
/** The depth JSON.parse's value has: the levels of arrays and objects, the outermost one counted. */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  return 1 + Math.max(0, ...Object.values(value).map(depthOf));
}

describe('jsonTooDeepAt', () => {
  it('agrees with the parsed value on where the limit is crossed', () => {
    for (const text of [
      '{}',
      '[1,[2,[3]]]',
      '{"a":{"b":[{"c":{}}]},"d":[[[]]]}',
      '{"items":[{"id":"x","text":"[[[[{{{{"}]}',
      String.raw`["a\\", [["\"[[[["]]]`,
      '{"é[":"ü{","x":[["日本[語"]]}',
    ]) {
      const depth = depthOf(JSON.parse(text));
      expect(jsonTooDeepAt(bytes(text), depth)).toBe(-1);
      if (depth > 0) expect(jsonTooDeepAt(bytes(text), depth - 1)).toBeGreaterThanOrEqual(0);
    }
  });

  it('names the byte where the body first goes too deep, reading no further', () => {
    expect(jsonTooDeepAt(bytes('{"a":[[[1]]]}'), 2)).toBe(6);
    const huge = Buffer.alloc(10_000_000, '[');
    expect(jsonTooDeepAt(huge, 100)).toBe(100);
  });

  it('counts no bracket inside a string, escaped quotes included', () => {
    expect(jsonTooDeepAt(bytes(`{"t":"${'['.repeat(500)}\\"${'{'.repeat(500)}"}`), 1)).toBe(-1);
  });
});
