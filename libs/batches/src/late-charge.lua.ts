import { redisScript } from '#libs/redis';
import { CARRY_SPENT_LUA } from './carry-spent.lua.js';

/**
 * A provider's charge for an item's call that arrived after the item left that call: a provider batch line
 * the item was escalated away from, which the provider finished (and bills) before the batch was cancelled or
 * ended (issue 16 §3: charge what the provider charges). An item still open keeps it as spent* (its final
 * transition adds it to its usage, as a reroute's calls are); a finished item and its batch add it to their
 * usage and cost at once, so a batch's cost is what its providers billed.
 *
 * Once per line: the item remembers the line's custom_id, so a worker that crashes after charging and
 * charges again (its ledger record still open) charges nothing twice.
 *
 * The line's budget reservation goes back in the same step (ARGV[5]), once: it is held from the line's hand-off
 * until the provider can bill nothing more for it, so a line left for a synchronous route cannot take the batch
 * past its budget once the provider bills it after all.
 *
 * KEYS[1] item hash, KEYS[2] batch hash (the batch's slot). ARGV: inputTokens, outputTokens, costUsd, the line,
 * the USD reserved for it. Returns 1 charged to a finished item, 2 carried by an open one, 0 charged before, -1 no such item (trimmed).
 */
export const LATE_CHARGE_LUA = `${CARRY_SPENT_LUA}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -1 end
if redis.call('HSETNX', KEYS[1], 'lateCharged:' .. ARGV[4], '1') == 0 then return 0 end
local input, output, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local reserved = tonumber(ARGV[5]) or 0
if reserved > 0 then redis.call('HINCRBYFLOAT', KEYS[2], 'reservedUsd', -reserved) end
if status == 'completed' or status == 'failed' or status == 'cancelled' then
  redis.call('HINCRBY', KEYS[1], 'inputTokens', input)
  redis.call('HINCRBY', KEYS[1], 'outputTokens', output)
  redis.call('HINCRBYFLOAT', KEYS[1], 'costUsd', cost)
  redis.call('HINCRBY', KEYS[2], 'inputTokens', input)
  redis.call('HINCRBY', KEYS[2], 'outputTokens', output)
  redis.call('HINCRBYFLOAT', KEYS[2], 'costUsd', cost)
  return 1
end
carrySpent(input, output, cost)
return 2
`;

/** What LATE_CHARGE_LUA returns (see above). */
export type LateChargeReply = -1 | 0 | 1 | 2;

export const LATE_CHARGE = redisScript<
  'item' | 'batch',
  readonly [inputTokens: string, outputTokens: string, costUsd: string, line: string, releaseUsd: string],
  LateChargeReply
>({ name: 'syLateCharge', keys: ['item', 'batch'], lua: LATE_CHARGE_LUA });
