import { randomUUID } from 'node:crypto';

/** The header a request id arrives in and is echoed back in (lower case: how Node names incoming headers). */
export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * What a caller's id may look like to be kept: UUIDs, ULIDs, W3C trace ids, nginx's `$request_id` and the
 * ids proxies and SDKs send fit in 128 characters of letters, digits and `-_.:`. Anything else — a long
 * value, spaces, quotes, control characters (a forged log line), a header sent twice — is not written to a
 * log or a job: the request gets a fresh id instead.
 */
const ACCEPTED = /^[A-Za-z0-9._:-]{1,128}$/;

/** `accepted`: the caller's; `generated`: none was sent; `replaced`: one was sent but did not pass. */
export type RequestIdSource = 'accepted' | 'generated' | 'replaced';

/** The id this request goes by, from its `X-Request-Id` header when that passes, or a new UUID. */
export function requestIdFrom(
  header: string | string[] | undefined,
  generate: () => string = randomUUID,
): { id: string; source: RequestIdSource } {
  if (header === undefined) return { id: generate(), source: 'generated' };
  if (typeof header === 'string' && ACCEPTED.test(header)) return { id: header, source: 'accepted' };
  return { id: generate(), source: 'replaced' };
}
