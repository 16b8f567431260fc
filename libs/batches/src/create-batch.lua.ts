import { keyListScript } from '#libs/redis';

/**
 * Writes a batch's own records in one atomic step, once: its hash, its items and its share of the providers'
 * backlogs, all under the batch id's hash tag (one slot on a Redis Cluster). Nothing is written when the
 * batch hash exists already: the request that holds an idempotency key's claim and a retry that takes over
 * a claim whose batch was never written (its creator died) cannot both create it (BatchCreation.create).
 *
 * KEYS[1] batch hash, KEYS[2] batch backlog hash, KEYS[3..] item hashes, item i at KEYS[3 + i]
 * ARGV[1] the batch's fields, ARGV[2] the backlog's fields, ARGV[3..] item i's fields at ARGV[3 + i]:
 * each a JSON array of field, value strings.
 * Returns 1 when written, 0 when the batch existed.
 */
export const CREATE_BATCH_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(cjson.decode(ARGV[1])))
local backlog = cjson.decode(ARGV[2])
if #backlog > 0 then redis.call('HSET', KEYS[2], unpack(backlog)) end
for i = 3, #KEYS do
  redis.call('HSET', KEYS[i], unpack(cjson.decode(ARGV[i])))
end
return 1
`;

export const CREATE_BATCH = keyListScript<readonly string[], 0 | 1>({ name: 'syCreateBatch', lua: CREATE_BATCH_LUA });
