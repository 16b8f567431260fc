import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '#libs/config/src/app-config.js';
import { APP_CONFIG, ConfigModule } from '#libs/config/src/config.module.js';
import { RedisModule } from '#libs/redis/src/redis.module.js';
import { JobQueue } from '#libs/queue/src/job-queue.js';
import { QueueModule } from '#libs/queue/src/queue.module.js';
import { IntakeModule } from '../../wiring/src/intake.module.js';
import { BatchIntake } from '#libs/batches/src/batch-intake.js';
import { BatchStore } from '#libs/batches/src/batch-store.js';
import { BranchOutputs } from '#libs/batches/src/branch-outputs.js';
import { SchedulesModule } from '../../wiring/src/schedules.module.js';
import { ScheduleService } from '#libs/schedules/src/schedule-service.js';
import { PoolRegistry } from '#libs/pools/src/pool-registry.js';
import { CircuitRegistry } from '#libs/pools/src/circuit-registry.js';
import { ProviderDirectory } from '#libs/pools/src/provider-directory.js';
import { TokenRateLimiter } from '#libs/pools/src/token-rate-limiter.js';
import { ProviderCapabilities } from '#libs/pools/src/provider-capabilities.js';
import { RoutingPolicy } from '#libs/routing/src/routing-policy.js';
import { AuditTrail } from '#libs/audit/src/audit-trail.js';
import { WORKER_PARTS, composeWorker } from './worker-composition.js';
import { WorkerLifecycle } from './worker-lifecycle.js';

/**
 * The only app that runs processors. No HTTP server. Nest provides the libs' shared services; the
 * worker's own objects are built by composeWorker, in one place, from them.
 */
@Module({})
export class WorkerModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [ConfigModule.forRoot(config), RedisModule, QueueModule.forRoot(config), IntakeModule, SchedulesModule],
      providers: [
        {
          provide: WORKER_PARTS,
          inject: [
            APP_CONFIG,
            BatchStore,
            PoolRegistry,
            JobQueue,
            ProviderDirectory,
            CircuitRegistry,
            TokenRateLimiter,
            RoutingPolicy,
            ProviderCapabilities,
            ScheduleService,
            BatchIntake,
            BranchOutputs,
            AuditTrail,
          ],
          useFactory: (
            config: AppConfig,
            store: BatchStore,
            registry: PoolRegistry,
            jobs: JobQueue,
            directory: ProviderDirectory,
            circuits: CircuitRegistry,
            tokens: TokenRateLimiter,
            policy: RoutingPolicy,
            capabilities: ProviderCapabilities,
            schedules: ScheduleService,
            intake: BatchIntake,
            branchOutputs: BranchOutputs,
            audit: AuditTrail,
          ) =>
            composeWorker({
              config,
              store,
              registry,
              jobs,
              directory,
              circuits,
              tokens,
              policy,
              capabilities,
              schedules,
              intake,
              branchOutputs,
              audit,
            }),
        },
        WorkerLifecycle,
      ],
    };
  }
}
