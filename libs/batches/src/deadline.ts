import { parseZonedTimestamp } from '#libs/domain';

const DURATION =
  /^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

const SECOND = 1000;
const DAY = 86_400 * SECOND;

/**
 * How far ahead a deadline may be: 366 days (a yearly job's deadline fits). Batch records, their items
 * and queue priorities all hold the deadline; `P300000Y` was accepted and made every read of the batch
 * a 500 (issue 13 §4), and nothing useful is due later than a year out.
 */
export const MAX_DEADLINE_DAYS = 366;
export const MAX_DEADLINE_MS = MAX_DEADLINE_DAYS * DAY;

/**
 * Milliseconds in an ISO-8601 duration ("PT30S", "P1D"); years and months count as 365 and 30 days.
 * Null when the text is not a duration, or when it is longer than MAX_DEADLINE_MS (so `P300000Y` and
 * `P99999999999999999999D` never become a time past the end of the calendar).
 */
export function parseIsoDuration(text: string): number | null {
  const m = DURATION.exec(text);
  if (!m) return null;
  const [, y, mo, w, d, h, mi, s] = m.map((v) => (v === undefined ? 0 : Number(v)));
  const ms = Math.round((y * 365 + mo * 30 + w * 7 + d) * DAY + (h * 3600 + mi * 60 + s) * SECOND);
  return Number.isFinite(ms) && ms <= MAX_DEADLINE_MS ? ms : null;
}

export type ParsedDeadline = { ok: true; at: number } | { ok: false; message: string };

const FORM = 'must be an ISO-8601 timestamp with a zone or a duration such as PT30S or P1D';
const HORIZON = `must be at most ${MAX_DEADLINE_DAYS} days ahead`;

/**
 * A deadline given as an ISO-8601 timestamp (with a zone) or a duration from `now`: a real calendar
 * date (`2030-02-30` is refused, not rolled over to March), in the future, within MAX_DEADLINE_DAYS.
 * The message completes "deadline …".
 */
export function parseDeadline(text: string, now: number): ParsedDeadline {
  if (DURATION.test(text)) {
    const duration = parseIsoDuration(text);
    if (duration === null) return { ok: false, message: HORIZON };
    // PT0S would be due the moment it arrives: late everywhere, so routed to whatever is fastest (paid).
    if (duration === 0) return { ok: false, message: 'must be a duration longer than zero' };
    return { ok: true, at: now + duration };
  }
  const read = parseZonedTimestamp(text);
  if (!read.ok) {
    if (read.wrong === 'form') return { ok: false, message: FORM };
    const what =
      read.wrong === 'date'
        ? `${text.slice(0, 10)} is not a date in the calendar`
        : `${text.slice(11)} is not a time of day`;
    return { ok: false, message: `${FORM}; ${what}` };
  }
  const { at } = read;
  if (at <= now) return { ok: false, message: 'is in the past' };
  if (at - now > MAX_DEADLINE_MS) return { ok: false, message: HORIZON };
  return { ok: true, at };
}
