/** `2027-01-01T09:30:00Z`, `…T09:30+02:00`, fractions of a second allowed; a zone required. */
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-](\d{2}):?(\d{2}))$/;

export type ZonedTimestamp =
  | { ok: true; at: number }
  /** `form`: not such a timestamp; `date`: no such day (2027-02-30); `time`: no such time of day or zone (T24:00). */
  | { ok: false; wrong: 'form' | 'date' | 'time' };

/**
 * An ISO-8601 timestamp with a zone, as an instant (epoch ms), read strictly: a day that is not in the calendar
 * (`2027-02-30`) or a time that is not on the clock (`T24:00`, `+25:00`) is refused, never rolled over to the next
 * one as Date.parse does (a key's `expiresAt` of 2027-02-30 meant 2 March). A zone is required so that the same text
 * cannot mean different instants on different hosts.
 */
export function parseZonedTimestamp(text: string): ZonedTimestamp {
  const m = TIMESTAMP.exec(text);
  if (!m) return { ok: false, wrong: 'form' };
  const [year, month, day, hour, minute, second = 0, zoneHours = 0, zoneMinutes = 0] = m
    .slice(1)
    .map((v) => (v === undefined ? undefined : Number(v)));
  const calendar = new Date(Date.UTC(year!, month! - 1, day!));
  const realDay =
    calendar.getUTCFullYear() === year && calendar.getUTCMonth() === month! - 1 && calendar.getUTCDate() === day;
  if (!realDay) return { ok: false, wrong: 'date' };
  if (hour! > 23 || minute! > 59 || second > 59 || zoneHours > 23 || zoneMinutes > 59)
    return { ok: false, wrong: 'time' };
  const at = Date.parse(text);
  return Number.isNaN(at) ? { ok: false, wrong: 'form' } : { ok: true, at };
}
