import { keyListScript } from '#libs/redis';

/**
 * Writes a batch's own records, once: its hash, its items and its share of the providers' backlogs, all under
 * the batch id's hash tag (one slot on a Redis Cluster). Nothing is written when the batch hash exists
 * already: the request that holds an idempotency key's claim and a retry that takes over a claim whose batch
 * was never written (its creator died) cannot both create it (BatchCreation.create).
 *
 * KEYS[1] batch hash, then the hashes to write: a chunk of items, or the batch backlog hash (KEYS[2]).
 * ARGV[1] how many field and value strings follow for each key, in KEYS order, comma separated; ARGV[2..]
 * those strings, key after key (createBatchArgs). A key with 0 strings is not written: BatchCreation names the
 * batch hash so with each chunk of items (written only while it does not exist), then writes the batch hash
 * and its backlog in a last call, all in one MULTI (one step in Redis, however many items).
 * Plain strings, not JSON: Lua's cjson refuses what JSON.stringify writes for a lone surrogate, which an
 * item's text may hold (seen in the chaos fuzz).
 * Returns 1 when written, 0 when the batch existed.
 */
export const CREATE_BATCH_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local at = 2
local k = 0
for n in string.gmatch(ARGV[1], '[^,]+') do
  k = k + 1
  n = tonumber(n)
  if n > 0 then redis.call('HSET', KEYS[k], unpack(ARGV, at, at + n - 1)) end
  at = at + n
end
return 1
`;

/** ARGV for CREATE_BATCH_LUA: the field, value strings of each hash, in KEYS order, after their counts. */
export function createBatchArgs(hashes: readonly (readonly string[])[]): string[] {
  return [hashes.map((h) => h.length).join(','), ...hashes.flat()];
}

export const CREATE_BATCH = keyListScript<readonly string[], 0 | 1>({ name: 'syCreateBatch', lua: CREATE_BATCH_LUA });
