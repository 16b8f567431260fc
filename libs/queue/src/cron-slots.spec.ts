import { describe, expect, it } from '@jest/globals';
import { CronExpressionParser } from 'cron-parser';
import { cronRepeatStrategy, nextCronSlot } from './cron-slots.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

/** The slots cron-parser gives walking from a day before `from` to two days after it. */
function walked(pattern: string, tz: string, from: number): number[] {
  const slots = CronExpressionParser.parse(pattern, { tz, currentDate: new Date(from - 24 * HOUR) });
  const out: number[] = [];
  for (let slot = 0; slot <= from + 48 * HOUR;) out.push((slot = slots.next().getTime()));
  return out;
}

describe('nextCronSlot', () => {
  // 2027-10-31: Berlin's clocks go back from 03:00 CEST to 02:00 CET at 01:00 UTC; 02:30 comes at 00:30Z and 01:30Z.
  it('gives a nightly 02:30 once on the night the clocks go back, asked from inside the repeated hour too', () => {
    expect(iso(nextCronSlot('30 2 * * *', at('2027-10-31T00:29:00Z'), { tz: 'Europe/Berlin' }))).toBe(
      '2027-10-31T00:30:00.000Z',
    );
    // A worker back at 02:10 CET, after the 02:30 CEST run: the next one is the next night's, not 20 minutes away.
    for (const after of ['2027-10-31T01:00:00Z', '2027-10-31T01:10:00Z', '2027-10-31T01:29:59Z'])
      expect(iso(nextCronSlot('30 2 * * *', at(after), { tz: 'Europe/Berlin' }))).toBe('2027-11-01T01:30:00.000Z');
    // New York: 01:30 EDT is 05:30Z, 01:30 EST 06:30Z.
    expect(iso(nextCronSlot('30 1 * * *', at('2027-11-07T06:10:00Z'), { tz: 'America/New_York' }))).toBe(
      '2027-11-08T06:30:00.000Z',
    );
  });

  it('keeps both 02:00s of an hourly pattern, and moves a 02:30 the spring takes away to 03:30', () => {
    expect(iso(nextCronSlot('0 * * * *', at('2027-10-31T00:30:00Z'), { tz: 'Europe/Berlin' }))).toBe(
      '2027-10-31T01:00:00.000Z',
    );
    expect(iso(nextCronSlot('0 * * * *', at('2027-10-31T01:10:00Z'), { tz: 'Europe/Berlin' }))).toBe(
      '2027-10-31T02:00:00.000Z',
    );
    // 2027-03-28: 02:00 CET is 03:00 CEST (01:00Z); 03:30 CEST is 01:30Z.
    expect(iso(nextCronSlot('30 2 * * *', at('2027-03-28T00:00:00Z'), { tz: 'Europe/Berlin' }))).toBe(
      '2027-03-28T01:30:00.000Z',
    );
    expect(iso(nextCronSlot('30 2 * * *', at('2027-03-28T01:30:00Z'), { tz: 'Europe/Berlin' }))).toBe(
      '2027-03-29T00:30:00.000Z',
    );
  });

  it('answers, from any minute around a change of offset, the slot a walk through it gives', () => {
    const changes: Array<[string, string]> = [
      ['Europe/Berlin', '2027-10-31T01:00:00Z'],
      ['Europe/Berlin', '2027-03-28T01:00:00Z'],
      ['America/New_York', '2027-11-07T06:00:00Z'],
      ['America/New_York', '2027-03-14T07:00:00Z'],
      // Two hours at once, back and forward.
      ['Antarctica/Troll', '2027-10-31T01:00:00Z'],
      ['Antarctica/Troll', '2027-03-28T01:00:00Z'],
    ];
    const patterns = ['30 2 * * *', '30 1 * * *', '0 * * * *', '*/15 2 * * *', '0 0 2 * * *', '45 1,2,3 * * *'];
    const wrong: string[] = [];
    for (const [tz, change] of changes) {
      const c = at(change);
      for (const pattern of patterns) {
        const slots = walked(pattern, tz, c);
        for (let after = c - 4 * HOUR; after <= c + 4 * HOUR; after += 5 * MINUTE) {
          const want = slots.find((s) => s > after)!;
          const got = nextCronSlot(pattern, after, { tz });
          if (got !== want) wrong.push(`${tz} ${pattern} after ${iso(after)}: ${iso(got)}, walked ${iso(want)}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('cronRepeatStrategy (BullMQ)', () => {
  it('counts from the start date when later, stops at the end date, and leaves `every` to BullMQ', () => {
    const opts = { pattern: '30 2 * * *', tz: 'Europe/Berlin' };
    expect(cronRepeatStrategy(at('2027-10-31T01:10:00Z'), opts)).toBe(at('2027-11-01T01:30:00Z'));
    expect(cronRepeatStrategy(at('2027-10-01T00:00:00Z'), { ...opts, startDate: '2027-10-31T01:10:00Z' })).toBe(
      at('2027-11-01T01:30:00Z'),
    );
    expect(
      cronRepeatStrategy(at('2027-10-31T01:10:00Z'), { ...opts, endDate: '2027-10-31T12:00:00Z' }),
    ).toBeUndefined();
    expect(cronRepeatStrategy(at('2027-10-31T01:10:00Z'), { every: 60_000 })).toBeUndefined();
    expect(() => cronRepeatStrategy(0, { pattern: '61 2 * * *', tz: 'UTC' })).toThrow();
  });
});
