/**
 * A request Redis could not serve (it is down, or failing over): a 503 with Retry-After, what clients and SDKs retry,
 * not a 500 that says the server is broken. Seconds: about ioredis's reconnect interval once an outage has lasted.
 */
export const STORE_UNAVAILABLE = {
  retryAfterS: 2,
  message:
    'the job store (Redis) cannot be reached; retry later (a create sent with an Idempotency-Key is safe to retry)',
};
