import { isIP } from 'node:net';
import type { CallbackAddressGuard } from './callback-address.js';

const MAX_URL_LENGTH = 2048;

/**
 * Why `raw` cannot be a callback URL, checked at submission without I/O; null when it can. http or https
 * only, no credentials in the URL (they would sit in the batch record and every log of it: sign with the
 * callback secret instead), and an IP literal or `localhost` must not be internal unless allowed. A host
 * name is resolved, and each address checked, again at every delivery (CallbackSender), where it counts.
 */
export function callbackUrlProblem(raw: string, guard: CallbackAddressGuard): string | null {
  if (raw.length > MAX_URL_LENGTH) return `must be at most ${MAX_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute http or https URL, e.g. https://example.com/hooks/switchyard';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http or https';
  if (url.username || url.password)
    return 'must not carry credentials (user:password@); verify the Switchyard-Signature header instead';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const literal = isIP(host) ? host : host === 'localhost' || host.endsWith('.localhost') ? '127.0.0.1' : null;
  const refusal = literal === null ? null : guard.refusal(literal);
  return refusal === null ? null : `is refused: ${refusal}`;
}
