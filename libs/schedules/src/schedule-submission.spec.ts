import { describe, expect, it } from '@jest/globals';
import { checkSchedule, shortestCronGapMs } from './schedule-submission.js';

const batch = {
  kind: 'document-processing',
  sensitivity: 'internal',
  deadline: 'PT1H',
  task: { type: 'summarize' },
  items: [{ id: 'a', text: 'x' }],
};
const errors = (body: unknown, minIntervalMs: number) => {
  const check = checkSchedule(body, { minIntervalMs });
  return check.ok ? [] : check.errors;
};

describe('a schedule’s minimum interval (SCHEDULE_MIN_INTERVAL_MS, issue 13 §3)', () => {
  it('refuses an `every` shorter than the minimum, naming the field and the setting', () => {
    expect(errors({ name: 's', every: 1000, batch }, 60_000)).toEqual([
      { field: 'every', message: 'must be at least 60000 ms (SCHEDULE_MIN_INTERVAL_MS)' },
    ]);
    expect(errors({ name: 's', every: 60_000, batch }, 60_000)).toEqual([]);
    expect(errors({ name: 's', every: 1000, batch }, 1000)).toEqual([]);
  });

  it('refuses a cron pattern that fires more often than the minimum, anywhere in its cycle', () => {
    expect(errors({ name: 's', cron: '*/5 * * * * *', tz: 'UTC', batch }, 60_000)).toEqual([
      {
        field: 'cron',
        message: 'fires 5000 ms apart; a schedule fires at most every 60000 ms (SCHEDULE_MIN_INTERVAL_MS)',
      },
    ]);
    // Two firings a second apart once a day: the rest of the day is quiet, the pair is still a burst.
    expect(errors({ name: 's', cron: '0,1 0 3 * * *', tz: 'Europe/Paris', batch }, 60_000).map((e) => e.field)).toEqual(
      ['cron'],
    );
    expect(errors({ name: 's', cron: '* * * * *', tz: 'UTC', batch }, 60_000)).toEqual([]);
    expect(errors({ name: 's', cron: '0 2 * * *', tz: 'UTC', batch }, 3_600_000)).toEqual([]);
  });

  it('measures the shortest gap between consecutive firings', () => {
    expect(shortestCronGapMs('*/10 * * * *', 'UTC')).toBe(600_000);
    expect(shortestCronGapMs('0 9,10 * * 1', 'UTC')).toBe(3_600_000);
    // 59 s, then the wrap to the next minute's 0 s: one second.
    expect(shortestCronGapMs('0,59 * * * * *', 'UTC')).toBe(1000);
    expect(shortestCronGapMs('0 0 29 2 *', 'UTC')).toBe(23 * 3_600_000);
  });
});

describe('a schedule’s batch deadline', () => {
  it('is a duration longer than zero, counted from each firing', () => {
    const field = (deadline: string) => errors({ name: 's', every: 60_000, batch: { ...batch, deadline } }, 60_000);
    for (const refused of ['PT0S', 'P0D', '2030-01-01T00:00:00Z'])
      expect([refused, field(refused).map((e) => e.field)]).toEqual([refused, ['batch.deadline']]);
    expect(field('PT6H')).toEqual([]);
  });
});
