const DURATION = /^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/;

const SECOND = 1000;
const DAY = 86_400 * SECOND;

/** Milliseconds in an ISO-8601 duration ("PT30S", "P1D"); years and months count as 365 and 30 days. */
export function parseIsoDuration(text: string): number | null {
  const m = DURATION.exec(text);
  if (!m) return null;
  const [, y, mo, w, d, h, mi, s] = m.map((v) => (v === undefined ? 0 : Number(v)));
  return Math.round(((y * 365 + mo * 30 + w * 7 + d) * DAY + (h * 3600 + mi * 60 + s) * SECOND));
}

/**
 * A deadline given as an ISO-8601 timestamp (with a zone) or a duration from `now`.
 * Returns epoch milliseconds, or null when the text is neither.
 */
export function parseDeadline(text: string, now: number): number | null {
  const duration = parseIsoDuration(text);
  if (duration !== null) return now + duration;
  if (!TIMESTAMP.test(text)) return null;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : at;
}
