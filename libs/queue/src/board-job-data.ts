/**
 * What a job's payload may show in Bull Board: which item or batch it is, how it is routed and when it is due.
 * The rest of a payload is what the job carries to the model (an item's document or source file, the answers an
 * earlier run kept) or anything added later: Bull Board is for watching queues, and the text stays with the batch,
 * which only the API serves, to the keys that may read it.
 */
const SHOWN = new Set([
  'batchId',
  'index',
  'itemId',
  'path',
  'kind',
  'sensitivity',
  'deadline',
  'model',
  'inputTokens',
  'requestId',
  'schedule',
  'event',
]);

/**
 * A job's payload as Bull Board shows it: the fields above (a deadline as its UTC time, as the API gives it, not
 * as epoch milliseconds), and of every other only its size.
 */
export function boardJobData(data: unknown): unknown {
  if (data === null || data === undefined) return data;
  if (typeof data !== 'object' || Array.isArray(data)) return notShown(data);
  return Object.fromEntries(
    Object.entries(data).map(([key, value]) => [key, SHOWN.has(key) ? shown(key, value) : notShown(value)]),
  );
}

function shown(key: string, value: unknown): unknown {
  if (key === 'deadline' && typeof value === 'number' && Number.isFinite(value)) {
    const at = new Date(value);
    if (!Number.isNaN(at.getTime())) return at.toISOString();
  }
  return value;
}

function notShown(value: unknown): string {
  if (typeof value === 'string') return `(not shown: ${value.length} characters)`;
  if (Array.isArray(value)) return `(not shown: ${value.length} entries)`;
  return '(not shown)';
}
