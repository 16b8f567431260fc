import { describe, expect, it } from '@jest/globals';
import { parseZonedTimestamp } from './zoned-timestamp.js';

describe('parseZonedTimestamp', () => {
  it('reads a timestamp with a zone as its instant', () => {
    expect(parseZonedTimestamp('2027-01-01T00:00:00Z')).toEqual({ ok: true, at: Date.UTC(2027, 0, 1) });
    expect(parseZonedTimestamp('2027-01-01T02:00+02:00')).toEqual({ ok: true, at: Date.UTC(2027, 0, 1) });
    expect(parseZonedTimestamp('2028-02-29T23:59:59.5Z')).toEqual({
      ok: true,
      at: Date.UTC(2028, 1, 29, 23, 59, 59, 500),
    });
  });

  it('refuses a day that is not in the calendar, never rolling it over as Date.parse does', () => {
    for (const text of [
      '2027-02-30T00:00:00Z',
      '2027-02-29T00:00:00Z',
      '2027-04-31T00:00:00Z',
      '2027-13-01T00:00:00Z',
      '2027-00-10T00:00:00Z',
    ])
      expect(parseZonedTimestamp(text)).toEqual({ ok: false, wrong: 'date' });
    expect(Date.parse('2027-02-30T00:00:00Z')).toBe(Date.UTC(2027, 2, 2));
  });

  it('refuses a time that is not on the clock, or a zone past ±23:59', () => {
    for (const text of [
      '2027-01-01T24:00:00Z',
      '2027-01-01T10:60:00Z',
      '2027-01-01T10:00:60Z',
      '2027-01-01T10:00:00+24:00',
      '2027-01-01T10:00:00+01:60',
    ])
      expect(parseZonedTimestamp(text)).toEqual({ ok: false, wrong: 'time' });
  });

  it('refuses what is not such a timestamp: no zone, a date alone, words', () => {
    for (const text of ['2027-01-01T00:00:00', '2027-01-01', 'tomorrow', '', '2027-1-1T00:00Z'])
      expect(parseZonedTimestamp(text)).toEqual({ ok: false, wrong: 'form' });
  });
});
