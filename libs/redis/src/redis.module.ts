import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { assertNoEviction } from './eviction-policy.js';
import { redisOutage } from './redis-outage.js';

export const REDIS = Symbol('REDIS');

/** The app's own Redis client (records, heartbeats); BullMQ opens its own connections. */
@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig) => {
        if (!config.redisUrl)
          throw new Error('REDIS_URL: expected a redis:// URL (npm start provides a private Redis when it is unset)');
        const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 3, lazyConnect: true });
        try {
          await redis.connect();
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
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  async onApplicationShutdown(): Promise<void> {
    // QUIT waits for a reconnect when Redis is gone; there is nothing to flush then.
    if (this.redis.status !== 'ready') return this.redis.disconnect();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
