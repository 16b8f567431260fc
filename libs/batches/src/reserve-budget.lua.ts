import { redisScript } from '#libs/redis';

/**
 * KEYS[1] batch hash; ARGV[1] USD to reserve (negative: release). A batch without maxCostUsd always
 * succeeds. Spent is what finished items cost plus what unfinished ones spent in calls before a reroute or
 * a retry (carriedUsd); reserved is what running cloud calls may still cost.
 * Returns 1 when reserved (or released), 0 when the reservation would pass maxCostUsd: the batch is then
 * marked budgetReached.
 */
export const RESERVE_BUDGET_LUA = `
local amount = tonumber(ARGV[1])
local h = redis.call('HMGET', KEYS[1], 'maxCostUsd', 'costUsd', 'reservedUsd', 'carriedUsd')
if not h[1] then return 1 end
if amount > 0 and (tonumber(h[2]) or 0) + (tonumber(h[3]) or 0) + (tonumber(h[4]) or 0) + amount > tonumber(h[1]) then
  redis.call('HSET', KEYS[1], 'budgetReached', 1)
  return 0
end
redis.call('HINCRBYFLOAT', KEYS[1], 'reservedUsd', amount)
return 1
`;

export const RESERVE_BUDGET = redisScript<'batch', readonly [usd: string], 0 | 1>({
  name: 'syReserveBudget',
  keys: ['batch'],
  lua: RESERVE_BUDGET_LUA,
});
