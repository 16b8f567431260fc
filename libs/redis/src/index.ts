export * from './eviction-policy.js';
export * from './embedded-redis.js';
export * from './redis.module.js';
export * from './redis-outage.js';
export * from './redis-script.js';
