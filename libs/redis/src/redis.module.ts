import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { assertNoEviction } from './eviction-policy.js';
import { redisOutage } from './redis-outage.js';
import type { RedisClient } from './redis-client.js';
import { closeRedis, connectRedis, openRedis } from './redis-connection.js';

export const REDIS = Symbol('REDIS');

/**
 * The app's own Redis client (records, heartbeats) on the configured topology: one server, a Cluster, or
 * the master Sentinel names. BullMQ opens its own connections (libs/queue).
 */
@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig) => {
        const redis = openRedis(config.redis.topology, { maxRetriesPerRequest: 3, lazyConnect: true });
        await connectRedis(redis, config.redis.topology);
        try {
          await assertNoEviction(redis);
        } catch (err) {
          redis.disconnect();
          throw err;
        }
        redisOutage.watchClient(redis, 'app');
        return redis;
      },
    },
  ],
  exports: [REDIS],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: RedisClient) {}

  async onApplicationShutdown(): Promise<void> {
    await closeRedis(this.redis);
  }
}
