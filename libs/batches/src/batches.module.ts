import { Module } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { REDIS, type RedisClient } from '#libs/redis';
import { BatchStore } from './batch-store.js';

@Module({
  providers: [
    {
      provide: BatchStore,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: RedisClient, c: AppConfig) => new BatchStore(redis, c.prefix),
    },
  ],
  exports: [BatchStore],
})
export class BatchesModule {}
