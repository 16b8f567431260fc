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
