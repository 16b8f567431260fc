/**
 * What the HTTP instrumentations may record of a URL. A query string can carry anything — a callback's
 * signed token, a key an EventSource had to put in the URL, an id a caller considers private — and the
 * instrumentations redact only a few well-known parameter names. Every value is replaced instead; the
 * names stay, so a trace still shows the shape of the request.
 */
export const REDACTED = 'REDACTED';

/** `?a=1&b=two` → `a=REDACTED&b=REDACTED` (no leading `?`, as `url.query` holds it); '' stays ''. */
export function redactedQuery(search: string): string {
  const params = new URLSearchParams(search.startsWith('?') ? search.slice(1) : search);
  return [...params.keys()].map((name) => `${encodeURIComponent(name)}=${REDACTED}`).join('&');
}

/** The URL with every query value, any user:password and the fragment replaced or removed. */
export function redactedUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not absolute: keep the path only.
    return url.split(/[?#]/, 1)[0];
  }
  parsed.username = '';
  parsed.password = '';
  parsed.hash = '';
  const query = redactedQuery(parsed.search);
  parsed.search = '';
  return query ? `${parsed.toString()}?${query}` : parsed.toString();
}
