// The face of libs/redis: what other libs, the apps and the tests use. Import it as '#libs/redis'.
export {
  RedisServerNotFound,
  isReachable,
  startEmbeddedRedis,
  stopRedisServer,
  type EmbeddedRedis,
} from './embedded-redis.js';
export { assertNoEviction } from './eviction-policy.js';
export {
  CrossSlotKeys,
  SLOTS,
  assertOneSlot,
  canHashTag,
  globalKeyPrefix,
  hashTag,
  hashedPart,
  keySlot,
} from './key-slot.js';
export { dataNodes, isCluster, type RedisClient } from './redis-client.js';
export {
  NotReplicated,
  RedisNotInClusterMode,
  RedisUnreachable,
  assertRedisReachable,
  bullConnection,
  closeRedis,
  configuredTopology,
  connectRedis,
  openRedis,
  setRetriesPerRequest,
  waitForReplicas,
  waitForReplicasOfAll,
  type BullConnection,
} from './redis-connection.js';
export { isConnectionError, redisOutage } from './redis-outage.js';
export {
  defineKeyListScript,
  defineScript,
  keyListScript,
  redisScript,
  type KeyListScript,
  type RedisScript,
  type ScriptCall,
} from './redis-script.js';
export { REDIS, RUNTIME_RETRIES_PER_REQUEST, RedisModule, redisStartUpDone } from './redis.module.js';
export { STREAM_ID_PATTERN, isStreamId } from './stream-id.js';
