/**
 * Hands a running item to another provider: back to queued, with the new route appended to its history,
 * the batch's route counts and the providers' backlogs moved in the same atomic step.
 *
 * KEYS[1] item hash, KEYS[2] batch hash, KEYS[3] backlog key of the new provider
 * ARGV[1] new route (JSON), ARGV[2] note recorded as the item's last error
 * Returns 1 when applied, 0 when the item was not running.
 */
export const ITEM_REROUTE_LUA = `
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
local route = cjson.decode(ARGV[1])
local history = cjson.decode(redis.call('HGET', KEYS[1], 'routes') or '[]')
local previous = history[#history]
table.insert(history, route)
redis.call('HSET', KEYS[1], 'status', 'queued', 'routes', cjson.encode(history), 'error', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'running', -1)
redis.call('HINCRBY', KEYS[2], 'queued', 1)
if previous and previous.target ~= route.target then
  local function field(t) return 'routes' .. string.upper(string.sub(t, 1, 1)) .. string.sub(t, 2) end
  redis.call('HINCRBY', KEYS[2], field(previous.target), -1)
  redis.call('HINCRBY', KEYS[2], field(route.target), 1)
end
local u = redis.call('HMGET', KEYS[1], 'backlogKey', 'backlogWork')
if u[1] and u[2] then
  redis.call('INCRBYFLOAT', u[1], -tonumber(u[2]))
  redis.call('INCRBYFLOAT', KEYS[3], tonumber(u[2]))
  redis.call('HSET', KEYS[1], 'backlogKey', KEYS[3])
end
return 1
`;
