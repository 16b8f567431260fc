/**
 * Entries a batch's event stream keeps (XADD MAXLEN ~): a 10,000-item batch makes about three per item; a
 * reader that falls further behind than this resumes from the oldest entry kept.
 */
export const BATCH_EVENTS_MAXLEN = 50_000;

/** How long a finished batch's event stream is kept (s): long enough to replay its end; the batch record stays. */
export const BATCH_EVENTS_TTL_S = 86_400;

/** `batchEvent(key, field, value, …)`: appends one entry to a batch's event stream, bounded. */
export const BATCH_EVENTS_LUA = `
local function batchEvent(key, ...)
  redis.call('XADD', key, 'MAXLEN', '~', '${BATCH_EVENTS_MAXLEN}', '*', ...)
end
`;
