import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { fieldErrors, type FieldError } from '#libs/batches/src/batch-submission.js';
import { MAX_DEADLINE_DAYS, parseIsoDuration } from '#libs/batches/src/deadline.js';

export interface ScheduleSubmission {
  name: string;
  cron?: string;
  tz?: string;
  every?: number;
  batch: Record<string, unknown>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** The shortest interval a schedule may fire at; anything faster is a loop, not a schedule. */
export const MIN_EVERY_MS = 1000;

// Strict, like the batch body: an unknown field is a 400 naming it.
const schema = z
  .strictObject({
    name: z.string({ error: 'must be a string' }).regex(NAME, 'must be letters, digits, ".", "-" or "_" (up to 100)'),
    cron: z.string({ error: 'must be a string' }).optional(),
    tz: z.string({ error: 'must be a string' }).optional(),
    every: z.number({ error: 'must be a number' }).int('must be an integer').min(MIN_EVERY_MS, `must be at least ${MIN_EVERY_MS} ms`).optional(),
    batch: z.record(z.string(), z.unknown(), { error: 'must be a batch body, as POST /v1/batches takes it' }),
  })
  .superRefine((s, ctx) => {
    if ((s.cron === undefined) === (s.every === undefined)) ctx.addIssue({ code: 'custom', path: ['cron'], message: 'give exactly one of cron or every' });
    if (s.cron !== undefined && s.tz === undefined) ctx.addIssue({ code: 'custom', path: ['tz'], message: 'is required with cron (an IANA time zone such as Europe/Paris)' });
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
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['cron'], message: `is not a cron pattern (${err instanceof Error ? err.message : String(err)})` });
      }
    }
    const deadline = s.batch.deadline;
    if (typeof deadline !== 'string' || parseIsoDuration(deadline) === null) {
      const message = `must be a duration such as PT6H, at most ${MAX_DEADLINE_DAYS} days: it counts from each firing`;
      ctx.addIssue({ code: 'custom', path: ['batch', 'deadline'], message });
    }
  });

/** Checks a schedule's own fields; its batch template is checked by the batch rules at creation too. */
export function checkSchedule(body: unknown): { ok: true; schedule: ScheduleSubmission } | { ok: false; errors: FieldError[] } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, errors: [{ field: 'body', message: 'must be a JSON object' }] };
  const parsed = schema.safeParse(body);
  if (!parsed.success) return { ok: false, errors: fieldErrors(parsed.error.issues) };
  return { ok: true, schedule: parsed.data };
}
