import { Module } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG } from '#libs/config/src/config.module.js';
import type { AppConfig } from '#libs/config/src/app-config.js';
import { REDIS } from '#libs/redis/src/redis.module.js';
import { BatchStore } from './batch-store.js';

@Module({
  providers: [
    {
      provide: BatchStore,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: Redis, c: AppConfig) => new BatchStore(redis, c.prefix),
    },
  ],
  exports: [BatchStore],
})
export class BatchesModule {}
