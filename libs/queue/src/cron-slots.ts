import type { RepeatOptions, RepeatStrategy } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';

/**
 * Longer than any daylight-saving change (Antarctica/Troll's two hours): a walk that starts this long before a time
 * starts outside the repeated hour that time may be in.
 */
const WALK_BACK_MS = 3 * 3_600_000;

const offsetFormats = new Map<string, Intl.DateTimeFormat>();

/** The zone's offset from UTC at `at`, as Intl names it (`GMT+01:00`). */
function offsetAt(tz: string, at: number): string {
  let format = offsetFormats.get(tz);
  if (!format) {
    format = new Intl.DateTimeFormat('en', { timeZone: tz, timeZoneName: 'longOffset' });
    offsetFormats.set(tz, format);
  }
  return format.formatToParts(at).find((p) => p.type === 'timeZoneName')?.value ?? '';
}

/**
 * The first slot of a cron `pattern` in zone `tz` after `after` (epoch ms): the slots cron-parser gives walking
 * through the year, wherever the question starts. Walking through the night the clocks go back, cron-parser gives a
 * pattern that names the hour (`30 2 * * *` in Europe/Berlin) its first 02:30 only, and one whose hour is `*` both
 * 02:00s; asked from inside the repeated hour, it gave the second 02:30 too, so a Job Scheduler whose next slot was
 * worked out then (its worker late, or the schedule replaced after 02:30 had fired) fired the same nightly run again an
 * hour later. Near a change of offset the answer is read off a walk begun before it.
 */
export function nextCronSlot(
  pattern: string,
  after: number,
  opts: { tz?: string; endDate?: Date | string | number } = {},
): number {
  const { tz } = opts;
  const nearChange = tz !== undefined && offsetAt(tz, after - WALK_BACK_MS) !== offsetAt(tz, after);
  const start = nearChange ? after - WALK_BACK_MS : after;
  const slots = CronExpressionParser.parse(pattern, { tz, endDate: opts.endDate, currentDate: new Date(start) });
  for (;;) {
    const slot = slots.next().getTime();
    if (slot > after) return slot;
  }
}

/**
 * BullMQ's repeat strategy with nextCronSlot in place of cron-parser's own next(): the same options (a start date,
 * an end date, `immediately`), the same answer away from a change of offset. Set on every Queue (upserts) and Worker
 * (the next slot's job, made when a slot starts) of the deployment.
 */
export const cronRepeatStrategy: RepeatStrategy = (millis: number, opts: RepeatOptions) => {
  if (!opts.pattern) return undefined;
  // A pattern that does not parse throws, as with BullMQ's own strategy.
  CronExpressionParser.parse(opts.pattern, { tz: opts.tz });
  if (opts.immediately) return Date.now();
  const startDate = opts.startDate === undefined ? undefined : new Date(opts.startDate).getTime();
  const after = startDate !== undefined && startDate > millis ? startDate : millis;
  try {
    return nextCronSlot(opts.pattern, after, { tz: opts.tz, endDate: opts.endDate });
  } catch {
    // Past the end date: no next job, as with BullMQ's own.
    return undefined;
  }
};

/** The BullMQ settings every Queue and Worker of Switchyard takes. */
export const BULL_SETTINGS = { repeatStrategy: cronRepeatStrategy } as const;
