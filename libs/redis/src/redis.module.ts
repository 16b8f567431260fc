import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { assertNoEviction } from './eviction-policy.js';
import { redisOutage } from './redis-outage.js';
import type { RedisClient } from './redis-client.js';
import { closeRedis, connectRedis, openRedis, setRetriesPerRequest } from './redis-connection.js';

export const REDIS = Symbol('REDIS');

/**
 * How many reconnects a command of the running app's client waits through (ioredis retries every 50 ms–2 s) before
 * it fails: an API request answers 503 and a job is retried, instead of hanging while Redis is gone.
 */
export const RUNTIME_RETRIES_PER_REQUEST = 3;

/**
 * Ends start-up's patience with Redis: from now on the app's client fails a command after RUNTIME_RETRIES_PER_REQUEST
 * reconnects. Until then (modules built, models loaded, pools announced, catch-up sweeps) commands wait for Redis.
 */
export function redisStartUpDone(app: { get(token: typeof REDIS): RedisClient }): void {
  setRetriesPerRequest(app.get(REDIS), RUNTIME_RETRIES_PER_REQUEST);
}

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
        // Start-up waits through a Redis outage, as the running app does: a command fails only once the app has
        // started (`redisStartUpDone`). A worker killed and restarted while Redis restarted used to exit 1 on the
        // first pool heartbeat or catch-up sweep that met the outage.
        const redis = openRedis(config.redis.topology, { maxRetriesPerRequest: null, lazyConnect: true });
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
