import { Module } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { REDIS } from '#libs/redis';
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
