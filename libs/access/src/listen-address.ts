export const LOOPBACK = '127.0.0.1';

export interface ListenPlan {
  host: string;
  /** No key exists and none was given: anyone who can reach the port may do anything. */
  open: boolean;
  /** Said at start-up when open. */
  warning: string | null;
}

/**
 * Where the API listens, decided once at boot. Without any API key the API is open, so it listens on
 * loopback whatever HOST says; HOST is honoured only when auth is configured (ADMIN_API_KEY or a key in
 * the store). Keys created later secure the running API at once, but it stays on loopback until restarted.
 */
export function listenPlan(requestedHost: string, authConfigured: boolean): ListenPlan {
  if (authConfigured) return { host: requestedHost, open: false, warning: null };
  const ignored = requestedHost !== LOOPBACK ? ` HOST=${requestedHost} is ignored until then.` : '';
  return {
    host: LOOPBACK,
    open: true,
    warning:
      `No API key exists and ADMIN_API_KEY is unset: the API is OPEN (no authentication) and listens on ${LOOPBACK} only.${ignored} ` +
      'Create a key (npm run keys -- create --name admin --scopes admin) or set ADMIN_API_KEY to require keys and listen on HOST.',
  };
}

/**
 * Whether a request's Host header names this machine's loopback: `localhost` or a name under `.localhost`
 * (browsers resolve those to loopback themselves, RFC 6761), 127.0.0.0/8 or [::1], with any port; a request
 * without one (HTTP/1.0) too, for no browser sends such a request. An open API answers only these: loopback
 * keeps other machines out, but not a web page in the operator's own browser whose name an attacker re-points
 * at 127.0.0.1 (DNS rebinding) — that page is then same-origin with the API, and its Host header is its own name.
 */
export function addressedToLoopback(host: string | undefined): boolean {
  if (host === undefined || host === '') return true;
  const name = (/^\[([^\]]*)\](?::\d*)?$/.exec(host)?.[1] ?? host.replace(/:\d*$/, '')).toLowerCase();
  if (name === 'localhost' || name === 'localhost.' || name.endsWith('.localhost') || name.endsWith('.localhost.'))
    return true;
  if (name === '::1' || name === '0:0:0:0:0:0:0:1') return true;
  return /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(name) && name.split('.').every((part) => Number(part) <= 255);
}

/**
 * Whether a request that would change something comes from another site's page in a browser: its Sec-Fetch-Site
 * says cross-site, or its Origin is not one of loopback's (an open API's only names; `null` is a sandboxed or
 * file page's). A form or a no-cors fetch (a multipart upload, an empty POST) needs no CORS preflight, so any page
 * the operator opens can send one to an open API, which asks for no key. Reads pass (GET, HEAD, OPTIONS: the page
 * cannot read their answers), and so does every client that is not a browser: it sends neither header.
 */
export function writeFromAnotherSite(req: { method: string; fetchSite?: string; origin?: string }): boolean {
  if (SAFE_METHODS.has(req.method.toUpperCase())) return false;
  if (req.fetchSite === 'cross-site') return true;
  if (req.origin === undefined) return false;
  try {
    return !addressedToLoopback(new URL(req.origin).host);
  } catch {
    return true;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
