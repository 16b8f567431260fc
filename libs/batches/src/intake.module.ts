import { Module } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config/src/config.module.js';
import type { AppConfig } from '#libs/config/src/app-config.js';
import { PoolsModule } from '#libs/pools/src/pools.module.js';
import { ProviderDirectory } from '#libs/pools/src/provider-directory.js';
import { JobQueue } from '#libs/queue/src/job-queue.js';
import { RoutingPolicy } from '#libs/routing/src/routing-policy.js';
import { BatchIntake } from './batch-intake.js';
import { BatchStore } from './batch-store.js';
import { AuditModule } from '#libs/audit/src/audit.module.js';
import { AuditTrail } from '#libs/audit/src/audit-trail.js';

/** Accepting batches: the API for POST /v1/batches, the worker for schedule firings. */
@Module({
  imports: [PoolsModule, AuditModule],
  providers: [
    { provide: RoutingPolicy, useValue: new RoutingPolicy() },
    {
      provide: BatchIntake,
      inject: [BatchStore, JobQueue, ProviderDirectory, RoutingPolicy, APP_CONFIG, AuditTrail],
      useFactory: (store: BatchStore, queue: JobQueue, dir: ProviderDirectory, policy: RoutingPolicy, c: AppConfig, audit: AuditTrail) =>
        new BatchIntake(store, queue, dir, policy, { maxItems: c.http.maxItems, maxOutputTokens: c.maxOutputTokens, localModels: c.localModels.map((m) => m.name), piiRules: c.piiRules }, audit),
    },
  ],
  exports: [BatchIntake, RoutingPolicy, PoolsModule, AuditModule],
})
export class IntakeModule {}
