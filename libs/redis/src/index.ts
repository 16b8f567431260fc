// The face of libs/redis: what other libs, the apps and the tests use. Import it as '#libs/redis'.
export { RedisServerNotFound, isReachable, startEmbeddedRedis, type EmbeddedRedis } from './embedded-redis.js';
export { redisOutage } from './redis-outage.js';
export { defineScript, redisScript } from './redis-script.js';
export { REDIS, RedisModule } from './redis.module.js';
