import { Module } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config';
import { CallbackAddressGuard } from '#libs/callbacks';
import type { AppConfig } from '#libs/config';
import { REDIS, type RedisClient } from '#libs/redis';
import { JobQueue } from '#libs/queue';
import { ScheduleService } from '#libs/schedules';
import { ScheduleStore } from '#libs/schedules';
import { BatchStore } from '#libs/batches';
import { BatchesModule } from '#libs/batches';
import { AccessModule } from '#libs/access';
import { ApiKeyStore } from '#libs/access';
import { KeyRateLimiter } from '#libs/access';
import { ownerKeyGate } from '#libs/access';
import { RepositoriesModule } from '#libs/repositories';
import { RepositoryRegistry } from '#libs/repositories';

@Module({
  imports: [BatchesModule, AccessModule, RepositoriesModule],
  providers: [
    {
      provide: ScheduleStore,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: RedisClient, c: AppConfig) => new ScheduleStore(redis, c.prefix),
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
          // A template's callback URL is checked as a submission's is.
          callbackGuard: new CallbackAddressGuard(c.callbacks.allowedNetworks),
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
