import { describe, expect, it } from '@jest/globals';
import { isStreamId } from './stream-id.js';

describe('isStreamId', () => {
  it('takes the ids Redis takes: two unsigned 64-bit parts', () => {
    for (const id of ['0-0', '1764750000000-0', '1-18446744073709551615', '18446744073709551615-18446744073709551615'])
      expect(isStreamId(id)).toBe(true);
  });

  it('refuses what Redis would answer "Invalid stream ID" to, and what is not an id', () => {
    for (const id of [
      '18446744073709551616-0',
      '99999999999999999999-0',
      '1-99999999999999999999',
      '123456789012345678901-0',
      'x',
      '1',
      '1-',
      '-1',
      '1-2-3',
      '+1-0',
      ' 1-0',
    ])
      expect(isStreamId(id)).toBe(false);
  });
});
