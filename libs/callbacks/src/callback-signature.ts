import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header every callback carries: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`. */
export const SIGNATURE_HEADER = 'Switchyard-Signature';
/** How old a signature a receiver should accept by default (seconds): older is a replay. */
export const DEFAULT_TOLERANCE_S = 300;

function hmac(secret: string, t: number, body: string): string {
  return createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
}

/** The Switchyard-Signature value for `body` (the exact bytes sent) at `t` (unix seconds). */
export function signatureHeader(secret: string, body: string, t: number): string {
  return `t=${t},v1=${hmac(secret, t, body)}`;
}

/**
 * What a receiver does (docs/api.md#callbacks shows it standalone): the header's v1 must be the HMAC of
 * `<t>.<body>` under the secret, compared in constant time, and t within `toleranceS` of now.
 */
export function verifySignature(opts: {
  secret: string;
  header: string | undefined;
  body: string;
  nowS?: number;
  toleranceS?: number;
}): boolean {
  const { secret, header, body, nowS = Math.floor(Date.now() / 1000), toleranceS = DEFAULT_TOLERANCE_S } = opts;
  const parts = new Map((header ?? '').split(',').map((p) => p.split('=', 2) as [string, string]));
  const t = Number(parts.get('t'));
  const v1 = parts.get('v1') ?? '';
  if (!Number.isInteger(t) || Math.abs(nowS - t) > toleranceS || !/^[0-9a-f]{64}$/.test(v1)) return false;
  return timingSafeEqual(Buffer.from(v1, 'hex'), Buffer.from(hmac(secret, t, body), 'hex'));
}
