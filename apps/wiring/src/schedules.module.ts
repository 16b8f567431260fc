import { Module } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG } from '#libs/config/src/config.module.js';
import type { AppConfig } from '#libs/config/src/app-config.js';
import { REDIS } from '#libs/redis/src/redis.module.js';
import { JobQueue } from '#libs/queue/src/job-queue.js';
import { ScheduleService } from '#libs/schedules/src/schedule-service.js';
import { ScheduleStore } from '#libs/schedules/src/schedule-store.js';
import { BatchStore } from '#libs/batches/src/batch-store.js';
import { BatchesModule } from '#libs/batches/src/batches.module.js';
import { AccessModule } from '#libs/access/src/access.module.js';
import { ApiKeyStore } from '#libs/access/src/api-key-store.js';
import { KeyRateLimiter } from '#libs/access/src/key-rate-limiter.js';
import { ownerKeyGate } from '#libs/access/src/owner-key-gate.js';
import { RepositoriesModule } from '#libs/repositories/src/repositories.module.js';
import { RepositoryRegistry } from '#libs/repositories/src/repository-registry.js';

@Module({
  imports: [BatchesModule, AccessModule, RepositoriesModule],
  providers: [
    {
      provide: ScheduleStore,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: Redis, c: AppConfig) => new ScheduleStore(redis, c.prefix),
    },
    {
      provide: ScheduleService,
      inject: [ScheduleStore, JobQueue, APP_CONFIG, BatchStore, ApiKeyStore, KeyRateLimiter, RepositoryRegistry],
      useFactory: (
        store: ScheduleStore,
        jobs: JobQueue,
        c: AppConfig,
        batches: BatchStore,
        keys: ApiKeyStore,
        limiter: KeyRateLimiter,
        repositories: RepositoryRegistry,
      ) => {
        const limits = {
          maxItems: c.http.maxItems,
          maxItemBytes: c.http.maxItemBytes,
          maxOutputTokens: c.maxOutputTokens,
          localModels: c.localModels.map((m) => m.name),
        };
        return new ScheduleService(store, jobs, limits, batches, {
          minIntervalMs: c.schedules.minIntervalMs,
          // Firings take from the owner key's limits, as its API requests do.
          firingGate: ownerKeyGate(keys, limiter, c.access.rateLimits),
          repositories,
        });
      },
    },
  ],
  exports: [ScheduleService, ScheduleStore],
})
export class SchedulesModule {}
