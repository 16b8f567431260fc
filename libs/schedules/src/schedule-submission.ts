import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { fieldErrors, type FieldError } from '#libs/domain';
import { MAX_DEADLINE_DAYS, parseIsoDuration } from '#libs/batches';

export interface ScheduleSubmission {
  name: string;
  cron?: string;
  tz?: string;
  every?: number;
  batch: Record<string, unknown>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** The default shortest interval a schedule may fire at (SCHEDULE_MIN_INTERVAL_MS). */
export const DEFAULT_MIN_INTERVAL_MS = 60_000;

export interface ScheduleRules {
  /** Neither `every` nor the gap between two firings of `cron` may be shorter (issue 13 §3). */
  minIntervalMs: number;
}

/** A day less the hour a daylight-saving change may take from it: the shortest gap of a daily pattern. */
const SHORTEST_DAY_MS = 23 * 3_600_000;

/**
 * The shortest gap a cron pattern can leave between two firings, read from its fields rather than by
 * walking its firings (cron-parser takes seconds to walk a few hundred, and a year for `0 0 29 2 *`):
 * the finest field with more than one value sets it — the closest two values, or the wrap from the last
 * to the first. The wrap counts even where the next coarser field would skip it, so the answer is never
 * longer than the truth (a rare pattern may be refused that would have been fine). Patterns firing once
 * a day or less often answer 23 hours; SCHEDULE_MIN_INTERVAL_MS is at most an hour, so they always pass.
 */
export function shortestCronGapMs(cron: string, tz?: string): number {
  const { second, minute, hour } = CronExpressionParser.parse(cron, { tz }).fields;
  const closest = (values: readonly number[], period: number): number => {
    const sorted = [...values].sort((a, b) => a - b);
    let gap = period - sorted[sorted.length - 1] + sorted[0];
    for (let i = 1; i < sorted.length; i++) gap = Math.min(gap, sorted[i] - sorted[i - 1]);
    return gap;
  };
  if (second.values.length > 1) return closest(second.values as number[], 60) * 1000;
  if (minute.values.length > 1) return closest(minute.values as number[], 60) * 60_000;
  if (hour.values.length > 1) return closest(hour.values as number[], 24) * 3_600_000;
  return SHORTEST_DAY_MS;
}

// Strict, like the batch body: an unknown field is a 400 naming it. Exported for the API's OpenAPI document.
export const scheduleSchema = (rules: ScheduleRules) =>
  z
    .strictObject({
      name: z.string({ error: 'must be a string' }).regex(NAME, 'must be letters, digits, ".", "-" or "_" (up to 100)'),
      cron: z.string({ error: 'must be a string' }).optional(),
      tz: z.string({ error: 'must be a string' }).optional(),
      every: z
        .number({ error: 'must be a number' })
        .int('must be an integer')
        .min(rules.minIntervalMs, `must be at least ${rules.minIntervalMs} ms (SCHEDULE_MIN_INTERVAL_MS)`)
        .optional(),
      batch: z.record(z.string(), z.unknown(), { error: 'must be a batch body, as POST /v1/batches takes it' }),
    })
    .superRefine((s, ctx) => {
      if ((s.cron === undefined) === (s.every === undefined))
        ctx.addIssue({ code: 'custom', path: ['cron'], message: 'give exactly one of cron or every' });
      if (s.cron !== undefined && s.tz === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['tz'],
          message: 'is required with cron (an IANA time zone such as Europe/Paris)',
        });
      if (s.tz !== undefined) {
        try {
          new Intl.DateTimeFormat('en', { timeZone: s.tz });
        } catch {
          ctx.addIssue({ code: 'custom', path: ['tz'], message: 'is not an IANA time zone' });
        }
      }
      if (s.cron !== undefined) {
        try {
          CronExpressionParser.parse(s.cron, { tz: s.tz });
          const gap = shortestCronGapMs(s.cron, s.tz);
          if (gap < rules.minIntervalMs) {
            const most = `a schedule fires at most every ${rules.minIntervalMs} ms (SCHEDULE_MIN_INTERVAL_MS)`;
            const message = `fires ${gap} ms apart; ${most}`;
            ctx.addIssue({ code: 'custom', path: ['cron'], message });
          }
        } catch (err) {
          ctx.addIssue({
            code: 'custom',
            path: ['cron'],
            message: `is not a cron pattern (${err instanceof Error ? err.message : String(err)})`,
          });
        }
      }
      const deadline = s.batch.deadline;
      if (typeof deadline !== 'string' || !((parseIsoDuration(deadline) ?? 0) > 0)) {
        const message = `must be a duration longer than zero such as PT6H, at most ${MAX_DEADLINE_DAYS} days: it counts from each firing`;
        ctx.addIssue({ code: 'custom', path: ['batch', 'deadline'], message });
      }
    });

/** Checks a schedule's own fields; its batch template is checked by the batch rules at creation too. */
export function checkSchedule(
  body: unknown,
  rules: ScheduleRules = { minIntervalMs: DEFAULT_MIN_INTERVAL_MS },
): { ok: true; schedule: ScheduleSubmission } | { ok: false; errors: FieldError[] } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { ok: false, errors: [{ field: 'body', message: 'must be a JSON object' }] };
  const parsed = scheduleSchema(rules).safeParse(body);
  if (!parsed.success) return { ok: false, errors: fieldErrors(parsed.error.issues) };
  return { ok: true, schedule: parsed.data };
}
