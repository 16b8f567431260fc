/** OpenAI's bounds on an expiration policy's `seconds`: an hour to 30 days. */
export const MIN_EXPIRES_AFTER_S = 3600;
export const MAX_EXPIRES_AFTER_S = 2_592_000;

export type ParsedExpiresAfter = { ok: true; ms: number | null } | { ok: false; param: string; message: string };

/**
 * An upload's `expires_after` as OpenAI takes it: `{anchor: "created_at", seconds}`, seconds a whole number from
 * 3600 to 2592000. Absent: null (the upload keeps the default, RESULT_TTL). Multipart sends the fields as text
 * (the SDK writes `expires_after[anchor]` and `expires_after[seconds]`), so seconds may be a string of digits.
 * `param` names the field at fault as `<name>.anchor` or `<name>.seconds`.
 */
export function parseExpiresAfter(raw: unknown, name = 'expires_after'): ParsedExpiresAfter {
  if (raw === undefined || raw === null || raw === '') return { ok: true, ms: null };
  if (typeof raw !== 'object' || Array.isArray(raw))
    return { ok: false, param: name, message: `${name} must be an object: {"anchor": "created_at", "seconds": N}` };
  const { anchor, seconds, ...rest } = raw as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined)
    return { ok: false, param: `${name}.${extra}`, message: `${name}.${extra} is not a field of ${name}` };
  if (anchor !== 'created_at')
    return { ok: false, param: `${name}.anchor`, message: `${name}.anchor must be "created_at"` };
  const s =
    typeof seconds === 'number'
      ? seconds
      : typeof seconds === 'string' && /^\d{1,10}$/.test(seconds)
        ? Number(seconds)
        : NaN;
  if (!Number.isInteger(s) || s < MIN_EXPIRES_AFTER_S || s > MAX_EXPIRES_AFTER_S)
    return {
      ok: false,
      param: `${name}.seconds`,
      message: `${name}.seconds must be a whole number from ${MIN_EXPIRES_AFTER_S} (an hour) to ${MAX_EXPIRES_AFTER_S} (30 days)`,
    };
  return { ok: true, ms: s * 1000 };
}
