import { Module } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG } from '#libs/config/src/config.module.js';
import type { AppConfig } from '#libs/config/src/app-config.js';
import { REDIS } from '#libs/redis/src/redis.module.js';
import { JobQueue } from '#libs/queue/src/job-queue.js';
import { ScheduleService } from './schedule-service.js';
import { ScheduleStore } from './schedule-store.js';
import { BatchStore } from '#libs/batches/src/batch-store.js';
import { BatchesModule } from '#libs/batches/src/batches.module.js';

@Module({
  imports: [BatchesModule],
  providers: [
    { provide: ScheduleStore, inject: [REDIS, APP_CONFIG], useFactory: (redis: Redis, c: AppConfig) => new ScheduleStore(redis, c.prefix) },
    {
      provide: ScheduleService,
      inject: [ScheduleStore, JobQueue, APP_CONFIG, BatchStore],
      useFactory: (store: ScheduleStore, jobs: JobQueue, c: AppConfig, batches: BatchStore) =>
        new ScheduleService(store, jobs, { maxItems: c.http.maxItems, maxItemBytes: c.http.maxItemBytes, maxOutputTokens: c.maxOutputTokens, localModels: c.localModels.map((m) => m.name) }, batches),
    },
  ],
  exports: [ScheduleService, ScheduleStore],
})
export class SchedulesModule {}
