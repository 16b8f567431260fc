import { Module } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG } from '#libs/config/src/config.module.js';
import type { AppConfig } from '#libs/config/src/app-config.js';
import { REDIS } from '#libs/redis/src/redis.module.js';
import { JobQueue } from '#libs/queue/src/job-queue.js';
import { ScheduleService } from './schedule-service.js';
import { ScheduleStore } from './schedule-store.js';

@Module({
  providers: [
    { provide: ScheduleStore, inject: [REDIS, APP_CONFIG], useFactory: (redis: Redis, c: AppConfig) => new ScheduleStore(redis, c.prefix) },
    {
      provide: ScheduleService,
      inject: [ScheduleStore, JobQueue, APP_CONFIG],
      useFactory: (store: ScheduleStore, jobs: JobQueue, c: AppConfig) =>
        new ScheduleService(store, jobs, { maxItems: c.http.maxItems, maxItemBytes: c.http.maxItemBytes, maxOutputTokens: c.maxOutputTokens, localModels: c.localModels.map((m) => m.name) }),
    },
  ],
  exports: [ScheduleService, ScheduleStore],
})
export class SchedulesModule {}
