import { redisScript } from '#libs/redis';
import { CARRY_SPENT_LUA } from './carry-spent.lua.js';
import { BATCH_EVENTS_LUA } from './batch-events.lua.js';

/**
 * Hands an item to another provider (fallback from a failing one, or escalation of a waiting one):
 * queued, with the new route appended to its history, the batch's route counts and the providers'
 * backlogs moved in the same atomic step. Applies only while the item is in an allowed status and still
 * routed to the provider the caller saw, so two reroutes never race each other.
 *
 * The move is appended to the batch's event stream.
 *
 * KEYS[1] item hash, KEYS[2] batch hash, KEYS[3] the batch's backlog hash (BatchKeys.batchBacklog), whose
 * fields `<target>:<provider>` the item's work moves between, KEYS[4] batch event stream: all in the batch's
 * hash slot (issue 14 §4).
 * ARGV[1] new route (JSON), ARGV[2] note recorded as the item's last error, ARGV[3] allowed statuses
 * (comma separated), ARGV[4] provider the item must currently be routed to, ARGV[5] '' or, when the item
 * leaves because it failed there, JSON {key, why, ruleOut}: the move is counted (failedMoves, which the
 * rerouter bounds) and, with ruleOut, `why` is kept under `key` ("target:provider") in ruledOut, so the item
 * is never routed there again; ARGV[6..8] input tokens, output tokens and cost its calls used on the
 * provider it leaves (CARRY_SPENT_LUA: an item pays for every call it made, wherever it ends).
 * Returns 0 when not applied; when applied, {the new route count, the backlog field the item's work left, that
 * work} ('' and '0' for an item with no backlog fields), so the caller's routing can count the move at once.
 */
export const ITEM_REROUTE_LUA = `${CARRY_SPENT_LUA}
${BATCH_EVENTS_LUA}
local cur = redis.call('HGET', KEYS[1], 'status')
local allowed = false
for s in string.gmatch(ARGV[3], '[^,]+') do
  if s == cur then allowed = true end
end
if not allowed or redis.call('HGET', KEYS[1], 'provider') ~= ARGV[4] then return 0 end
local route = cjson.decode(ARGV[1])
local history = cjson.decode(redis.call('HGET', KEYS[1], 'routes') or '[]')
local previous = history[#history]
table.insert(history, route)
redis.call('HSET', KEYS[1], 'status', 'queued', 'routes', cjson.encode(history), 'error', ARGV[2], 'provider', route.provider, 'target', route.target)
batchEvent(KEYS[4], 'type', 'reroute', 'index', redis.call('HGET', KEYS[1], 'index') or '', 'from', cur, 'to', 'queued',
  'target', route.target, 'provider', route.provider, 'reason', route.reason or '', 'at', route.at or '')
if cur ~= 'queued' then
  redis.call('HINCRBY', KEYS[2], cur, -1)
  redis.call('HINCRBY', KEYS[2], 'queued', 1)
end
if previous and previous.target ~= route.target then
  local function field(t) return 'routes' .. string.upper(string.sub(t, 1, 1)) .. string.sub(t, 2) end
  redis.call('HINCRBY', KEYS[2], field(previous.target), -1)
  redis.call('HINCRBY', KEYS[2], field(route.target), 1)
end
if ARGV[5] ~= '' then
  local leave = cjson.decode(ARGV[5])
  redis.call('HINCRBY', KEYS[1], 'failedMoves', 1)
  if leave.ruleOut then
    local out = cjson.decode(redis.call('HGET', KEYS[1], 'ruledOut') or '{}')
    out[leave.key] = leave.why
    redis.call('HSET', KEYS[1], 'ruledOut', cjson.encode(out))
  end
end
if ARGV[6] then carrySpent(tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])) end
local u = redis.call('HMGET', KEYS[1], 'backlogField', 'backlogWork')
if u[1] and u[2] then
  local moved = route.target .. ':' .. route.provider
  redis.call('HINCRBYFLOAT', KEYS[3], u[1], -tonumber(u[2]))
  redis.call('HINCRBYFLOAT', KEYS[3], moved, tonumber(u[2]))
  redis.call('HSET', KEYS[1], 'backlogField', moved)
  return {#history, u[1], u[2]}
end
return {#history, '', '0'}
`;

export const ITEM_REROUTE = redisScript<
  'item' | 'batch' | 'backlog' | 'events',
  readonly [
    route: string,
    note: string,
    statuses: string,
    fromProvider: string,
    leaving: string,
    ...spent: [] | [inputTokens: string, outputTokens: string, costUsd: string],
  ],
  0 | [routes: number, leftField: string, work: string]
>({ name: 'syItemReroute', keys: ['item', 'batch', 'backlog', 'events'], lua: ITEM_REROUTE_LUA });
