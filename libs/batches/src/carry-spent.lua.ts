/**
 * Lua shared by the item scripts (KEYS[1] item hash, KEYS[2] batch hash): what the calls of an item that has
 * not finished used (before a reroute, or in an attempt that failed and is tried again) is kept on the item
 * as spent*, which its final transition adds to its usage: an item pays for every call it made. Until then
 * the batch holds the cost as carriedUsd, which its budget counts at once.
 */
export const CARRY_SPENT_LUA = `
local function carrySpent(inputTokens, outputTokens, costUsd)
  redis.call('HINCRBY', KEYS[1], 'spentInputTokens', inputTokens)
  redis.call('HINCRBY', KEYS[1], 'spentOutputTokens', outputTokens)
  redis.call('HINCRBYFLOAT', KEYS[1], 'spentCostUsd', costUsd)
  redis.call('HINCRBYFLOAT', KEYS[2], 'carriedUsd', costUsd)
end
`;

/** The item-transition field whose value is "inputTokens,outputTokens,costUsd" to carry, not a field to set. */
export const SPENT_FIELD = '@spent';
