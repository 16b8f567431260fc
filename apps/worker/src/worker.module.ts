import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '#libs/config';
import { APP_CONFIG, ConfigModule } from '#libs/config';
import { RedisModule } from '#libs/redis';
import { JobQueue } from '#libs/queue';
import { QueueModule } from '#libs/queue';
import { IntakeModule } from '../../wiring/src/intake.module.js';
import { BatchIntake } from '#libs/batches';
import { BatchStore } from '#libs/batches';
import { BranchOutputs } from '#libs/batches';
import { BatchCallbacks } from '#libs/batches';
import { CallbackSecrets, CallbackSender, CallbacksModule } from '#libs/callbacks';
import { SchedulesModule } from '../../wiring/src/schedules.module.js';
import { ScheduleService } from '#libs/schedules';
import { PoolRegistry } from '#libs/pools';
import { CircuitRegistry } from '#libs/pools';
import { ProviderDirectory } from '#libs/pools';
import { TokenRateLimiter } from '#libs/pools';
import { ProviderCapabilities } from '#libs/pools';
import { ProviderBatchLedger } from '#libs/pools';
import { RoutingPolicy } from '#libs/routing';
import { AuditTrail } from '#libs/audit';
import { WORKER_PARTS, composeWorker } from './worker-composition.js';
import { WORKER_STOPPING, WorkerLifecycle } from './worker-lifecycle.js';
import { WorkerMetrics } from './worker-metrics.js';
import { TelemetryModule } from '#libs/telemetry';

/**
 * The only app that runs processors. No HTTP server. Nest provides the libs' shared services; the
 * worker's own objects are built by composeWorker, in one place, from them.
 */
@Module({})
export class WorkerModule {
  /** `stopping`: the process's stop (ProcessStop.signal); aborted during start-up, nothing more starts. */
  static forRoot(config: AppConfig, stopping: AbortSignal = new AbortController().signal): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        ConfigModule.forRoot(config),
        // Flushes buffered spans on shutdown (nothing to do when tracing is off).
        TelemetryModule,
        RedisModule,
        QueueModule.forRoot(config),
        IntakeModule,
        SchedulesModule,
        CallbacksModule,
      ],
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
            ProviderBatchLedger,
            ScheduleService,
            BatchIntake,
            BranchOutputs,
            AuditTrail,
            BatchCallbacks,
            CallbackSecrets,
            CallbackSender,
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
            providerBatches: ProviderBatchLedger,
            schedules: ScheduleService,
            intake: BatchIntake,
            branchOutputs: BranchOutputs,
            audit: AuditTrail,
            callbackBatches: BatchCallbacks,
            secrets: CallbackSecrets,
            sender: CallbackSender,
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
              providerBatches,
              schedules,
              intake,
              branchOutputs,
              audit,
              callbacks: { batches: callbackBatches, secrets, sender },
            }),
        },
        { provide: WORKER_STOPPING, useValue: stopping },
        // Nest runs a module's bootstrap hooks together: /metrics answers while WorkerLifecycle loads the models.
        WorkerMetrics,
        WorkerLifecycle,
      ],
    };
  }
}
