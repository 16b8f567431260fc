import { redisScript } from '#libs/redis';
import { CARRY_SPENT_LUA, SPENT_FIELD } from './carry-spent.lua.js';
import { BATCH_EVENTS_LUA, BATCH_EVENTS_TTL_S } from './batch-events.lua.js';

/**
 * Moves one item between statuses atomically and keeps the batch's counters in step. It applies only
 * when the item's current status is one of the allowed ones, so a job that runs again after a worker
 * crash can never complete (or count, or charge) an item twice; and, when a provider is given, only
 * while the item is routed to that provider, so a job left behind by a reroute never runs it.
 *
 * Every status change is also appended to the batch's event stream, and the batch's end after it (the one
 * place item transitions are written, so GET /v1/batches/:id/events misses none); a finished item leaves the
 * batch's open estimates.
 *
 * KEYS[1] item hash, KEYS[2] batch hash, KEYS[3] the batch's backlog hash (BatchKeys.batchBacklog), KEYS[4] batch
 * event stream, KEYS[5] batch's open-item estimates (zset): all in the batch's hash slot, so the script runs on
 * a Redis Cluster (issue 14 §4).
 * ARGV[1] allowed current statuses, comma separated; ARGV[2] new status; ARGV[3] now (ms);
 * ARGV[4] provider the item must be routed to ('' for any); ARGV[5..] field, value pairs to set on the item,
 * except SPENT_FIELD, whose value "inputTokens,outputTokens,costUsd" is what a failed attempt's calls used:
 * kept as a reroute keeps its calls (CARRY_SPENT_LUA).
 * Returns 1 when applied, 3 when applied and it was the batch's last open item (the batch just finished),
 * 0 when the item was not in an allowed status, 2 when it is routed elsewhere, -1 when it does not exist;
 * 4 when a move to running found the batch's cancel requested and cancelled the item instead (5: and that
 * finished the batch).
 */
export const ITEM_TRANSITION_LUA = `${CARRY_SPENT_LUA}
${BATCH_EVENTS_LUA}
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return -1 end
if ARGV[4] ~= '' and redis.call('HGET', KEYS[1], 'provider') ~= ARGV[4] then return 2 end
local allowed = false
for s in string.gmatch(ARGV[1], '[^,]+') do
  if s == cur then allowed = true end
end
if not allowed then return 0 end
local to = ARGV[2]
-- A batch being cancelled starts nothing more: its cancel moves queued items one by one, and a worker taking
-- one it has not reached yet (or running again one that had started before) cancels it here instead, before
-- any call leaves for a provider.
local cancelledInstead = to == 'running' and redis.call('HGET', KEYS[2], 'cancelRequested') == '1'
if cancelledInstead then
  to = 'cancelled'
  redis.call('HSET', KEYS[1], 'error', 'cancelled before it started')
end
if cur ~= to then
  redis.call('HINCRBY', KEYS[2], cur, -1)
  redis.call('HINCRBY', KEYS[2], to, 1)
  redis.call('HSET', KEYS[1], 'status', to)
  local where = redis.call('HMGET', KEYS[1], 'index', 'target', 'provider')
  batchEvent(KEYS[4], 'type', 'item', 'index', where[1] or '', 'from', cur, 'to', to,
    'target', where[2] or '', 'provider', where[3] or '', 'at', ARGV[3])
end
for i = (cancelledInstead and #ARGV + 1 or 5), #ARGV, 2 do
  if ARGV[i] == '${SPENT_FIELD}' then
    local input, output, cost = string.match(ARGV[i + 1], '^([^,]+),([^,]+),([^,]+)$')
    carrySpent(tonumber(input), tonumber(output), tonumber(cost))
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
if to == 'running' then
  redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  redis.call('HSETNX', KEYS[1], 'startedAt', ARGV[3])
end
-- 'error' is for items that failed: a completed item's earlier failures live in its route history.
if to == 'completed' then redis.call('HDEL', KEYS[1], 'error') end
if to == 'completed' or to == 'failed' or to == 'cancelled' then
  redis.call('HSET', KEYS[1], 'finishedAt', ARGV[3])
  redis.call('ZREM', KEYS[5], redis.call('HGET', KEYS[1], 'index') or '')
  -- What its calls used on providers it left before (ITEM_REROUTE_LUA): its usage is every call's.
  local spent = redis.call('HMGET', KEYS[1], 'spentInputTokens', 'spentOutputTokens', 'spentCostUsd')
  if spent[1] then
    redis.call('HINCRBY', KEYS[1], 'inputTokens', tonumber(spent[1]))
    redis.call('HINCRBY', KEYS[1], 'outputTokens', tonumber(spent[2]))
    redis.call('HINCRBYFLOAT', KEYS[1], 'costUsd', tonumber(spent[3]))
    redis.call('HDEL', KEYS[1], 'spentInputTokens', 'spentOutputTokens', 'spentCostUsd')
    -- Now in the item's cost, which the batch's costUsd takes below.
    redis.call('HINCRBYFLOAT', KEYS[2], 'carriedUsd', -tonumber(spent[3]))
  end
  local u = redis.call('HMGET', KEYS[1], 'inputTokens', 'outputTokens', 'costUsd', 'backlogField', 'backlogWork')
  redis.call('HINCRBY', KEYS[2], 'inputTokens', tonumber(u[1] or '0') or 0)
  redis.call('HINCRBY', KEYS[2], 'outputTokens', tonumber(u[2] or '0') or 0)
  redis.call('HINCRBYFLOAT', KEYS[2], 'costUsd', tonumber(u[3] or '0') or 0)
  if u[4] and u[5] then
    redis.call('HINCRBYFLOAT', KEYS[3], u[4], -tonumber(u[5]))
    redis.call('HDEL', KEYS[1], 'backlogField', 'backlogWork')
  end
  local open = redis.call('HMGET', KEYS[2], 'queued', 'running')
  if (tonumber(open[1]) or 0) + (tonumber(open[2]) or 0) == 0 then
    redis.call('HSET', KEYS[2], 'finishedAt', ARGV[3])
    -- Nothing of the batch waits or runs any more: it adds to no provider's backlog (ProviderBacklog prunes it).
    redis.call('DEL', KEYS[3])
    if cur ~= to then
      batchEvent(KEYS[4], 'type', 'finished', 'at', ARGV[3])
      redis.call('EXPIRE', KEYS[4], ${BATCH_EVENTS_TTL_S})
      if cancelledInstead then return 5 end
      return 3
    end
  end
end
if cancelledInstead then return 4 end
return 1
`;

/** What ITEM_TRANSITION_LUA returns (see above). */
export type ItemTransitionReply = -1 | 0 | 1 | 2 | 3 | 4 | 5;

export const ITEM_TRANSITION = redisScript<
  'item' | 'batch' | 'backlog' | 'events' | 'estimates',
  readonly [allowed: string, to: string, now: string, provider: string, ...fieldValuePairs: string[]],
  ItemTransitionReply
>({
  name: 'syItemTransition',
  keys: ['item', 'batch', 'backlog', 'events', 'estimates'],
  lua: ITEM_TRANSITION_LUA,
});
