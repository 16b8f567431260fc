import { MAX_DEADLINE_DAYS, MAX_DEADLINE_MS } from '../deadline.js';

const WINDOW = /^(\d{1,6})([smhd])$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** Shorter than a minute is no window a batch can be planned in. */
const MIN_WINDOW_MS = 60_000;

export type ParsedWindow = { ok: true; ms: number } | { ok: false; message: string };

/**
 * An OpenAI batch's completion_window: "24h" as OpenAI takes it, and any other duration of seconds,
 * minutes, hours or days ("5m", "1h", "72h", "7d"), from a minute to MAX_DEADLINE_DAYS (issue 16 §1).
 * It becomes every item's deadline.
 */
export function parseCompletionWindow(text: unknown): ParsedWindow {
  const form = 'must be a duration such as "24h", "5m", "72h" or "7d"';
  if (typeof text !== 'string') return { ok: false, message: form };
  const m = WINDOW.exec(text.trim());
  if (!m) return { ok: false, message: form };
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  if (ms < MIN_WINDOW_MS) return { ok: false, message: 'must be at least one minute' };
  if (ms > MAX_DEADLINE_MS) return { ok: false, message: `must be at most ${MAX_DEADLINE_DAYS} days` };
  return { ok: true, ms };
}
