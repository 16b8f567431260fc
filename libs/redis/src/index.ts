// The face of libs/redis: what other libs, the apps and the tests use. Import it as '#libs/redis'.
export { RedisServerNotFound, isReachable, startEmbeddedRedis, type EmbeddedRedis } from './embedded-redis.js';
export { assertNoEviction } from './eviction-policy.js';
export {
  NotReplicated,
  RedisUnreachable,
  bullConnection,
  closeRedis,
  configuredTopology,
  connectRedis,
  masters,
  openRedis,
  waitForReplicas,
  type BullConnection,
  type RedisClient,
} from './redis-connection.js';
export { redisOutage } from './redis-outage.js';
export { defineScript, redisScript } from './redis-script.js';
export { REDIS, RedisModule } from './redis.module.js';
