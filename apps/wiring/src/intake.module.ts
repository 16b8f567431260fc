import { Logger, Module } from '@nestjs/common';
import { REDIS, type RedisClient } from '#libs/redis';
import { APP_CONFIG } from '#libs/config';
import { CallbackAddressGuard } from '#libs/callbacks';
import type { AppConfig } from '#libs/config';
import { PoolsModule } from './pools.module.js';
import { ProviderDirectory } from '#libs/pools';
import { JobQueue } from '#libs/queue';
import { RoutingPolicy } from '#libs/routing';
import { BatchErasure, BatchIntake } from '#libs/batches';
import { PromptTokens } from '#libs/batches';
import { BatchStore } from '#libs/batches';
import { BranchOutputs } from '#libs/batches';
import { measureBatchFinishes } from '#libs/batches';
import { BatchCallbacks } from '#libs/batches';
import { AuditModule } from '#libs/audit';
import { AuditTrail } from '#libs/audit';
import { RepositoriesModule } from '#libs/repositories';
import { RepositoryRegistry } from '#libs/repositories';

/** The token of the provider that measures finished batches (registered for its side effect). */
const BATCH_FINISH_METRICS = Symbol('BatchFinishMetrics');

/** Accepting batches: the API for POST /v1/batches, the worker for schedule firings. */
@Module({
  imports: [PoolsModule, AuditModule, RepositoriesModule],
  providers: [
    // A parked item keeps time for a failed circuit probe: the policy is told how long one may take.
    {
      provide: RoutingPolicy,
      inject: [APP_CONFIG],
      useFactory: (c: AppConfig) => new RoutingPolicy({ probeTimeoutMs: c.circuit.probeTimeoutMs }),
    },
    // Empty until the app has a tokenizer: the API opens the local models' vocabularies, a worker its models.
    { provide: PromptTokens, useValue: new PromptTokens() },
    {
      provide: BatchIntake,
      inject: [
        BatchStore,
        JobQueue,
        ProviderDirectory,
        RoutingPolicy,
        APP_CONFIG,
        AuditTrail,
        PromptTokens,
        RepositoryRegistry,
      ],
      useFactory: (
        store: BatchStore,
        queue: JobQueue,
        dir: ProviderDirectory,
        policy: RoutingPolicy,
        c: AppConfig,
        audit: AuditTrail,
        tokens: PromptTokens,
        repositories: RepositoryRegistry,
      ) =>
        new BatchIntake(
          store,
          queue,
          dir,
          policy,
          {
            maxItems: c.http.maxItems,
            deferFromItems: c.http.deferFromItems,
            maxItemBytes: c.http.maxItemBytes,
            maxOutputTokens: c.maxOutputTokens,
            localModels: c.localModels.map((m) => m.name),
            piiRules: c.piiRules,
            callbackGuard: new CallbackAddressGuard(c.callbacks.allowedNetworks),
          },
          repositories,
          audit,
          tokens,
        ),
    },
    {
      provide: BatchErasure,
      inject: [BatchStore, JobQueue, AuditTrail],
      useFactory: (store: BatchStore, queue: JobQueue, audit: AuditTrail) => new BatchErasure(store, queue, audit),
    },
    {
      provide: BranchOutputs,
      inject: [REDIS, APP_CONFIG, BatchStore, JobQueue, RepositoryRegistry],
      useFactory: (
        redis: RedisClient,
        c: AppConfig,
        store: BatchStore,
        queue: JobQueue,
        repositories: RepositoryRegistry,
      ) => {
        const outputs = new BranchOutputs(redis, c.prefix, store, queue, repositories);
        // Both apps finish batches (the worker by running items, the API by cancelling the last queued ones).
        const log = new Logger('branch-output');
        outputs.watch((batchId, err) =>
          log.warn({
            msg: 'could not enqueue a branch output; the sweep will',
            batchId,
            error: err instanceof Error ? err.message : String(err),
          }),
        );
        return outputs;
      },
    },
    // Both apps finish batches: whichever finishes one measures it (switchyard_batch_*, docs/operations.md).
    {
      provide: BATCH_FINISH_METRICS,
      inject: [BatchStore],
      useFactory: (store: BatchStore) => {
        const log = new Logger('metrics');
        measureBatchFinishes(store, (batchId, err) =>
          log.warn({
            msg: 'finished batch not measured',
            batchId,
            error: err instanceof Error ? err.message : String(err),
          }),
        );
        return true;
      },
    },
    {
      provide: BatchCallbacks,
      inject: [REDIS, APP_CONFIG, BatchStore, JobQueue],
      useFactory: (redis: RedisClient, c: AppConfig, store: BatchStore, queue: JobQueue) => {
        const callbacks = new BatchCallbacks(redis, c.prefix, store, queue);
        // Both apps finish items and batches (the API by cancelling): either enqueues the callback events.
        const log = new Logger('callbacks');
        callbacks.watch((batchId, err) =>
          log.warn({
            msg: 'could not enqueue a callback event; the sweep will',
            batchId,
            error: err instanceof Error ? err.message : String(err),
          }),
        );
        return callbacks;
      },
    },
  ],
  exports: [
    BatchIntake,
    BatchErasure,
    BranchOutputs,
    BatchCallbacks,
    RoutingPolicy,
    PromptTokens,
    PoolsModule,
    AuditModule,
    RepositoriesModule,
  ],
})
export class IntakeModule {}
