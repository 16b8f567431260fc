/** A Redis stream entry id as a client may send one back (`<ms>-<seq>`): what the text must look like. */
export const STREAM_ID_PATTERN = /^\d{1,20}-\d{1,20}$/;

/** The largest part Redis takes: both halves of an entry id are unsigned 64-bit integers. */
const MAX_PART = 18_446_744_073_709_551_615n;

/**
 * Whether `raw` is an entry id Redis will take (`<ms>-<seq>`, each part an unsigned 64-bit integer): a cursor a
 * client sends back (an audit page's `after`, an event stream's Last-Event-ID) is checked with it, so a forged one
 * past 2^64 is a 400 naming it, not Redis's "Invalid stream ID" as a 500 or a stream that ends at once.
 */
export function isStreamId(raw: string): boolean {
  if (!STREAM_ID_PATTERN.test(raw)) return false;
  const [ms, seq] = raw.split('-');
  return BigInt(ms) <= MAX_PART && BigInt(seq) <= MAX_PART;
}
