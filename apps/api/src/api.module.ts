import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { BullBoardModule } from '@bull-board/nestjs';
import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '#libs/config/src/app-config.js';
import { APP_CONFIG, ConfigModule } from '#libs/config/src/config.module.js';
import { RedisModule } from '#libs/redis/src/redis.module.js';
import { JobQueue, QueueModule, configuredQueues, queueName } from '#libs/queue/src/index.js';
import { PoolsModule } from '#libs/pools/src/pools.module.js';
import { ProviderDirectory } from '#libs/pools/src/provider-directory.js';
import { BatchIntake, BatchStore } from '#libs/batches/src/index.js';
import { RoutingPolicy } from '#libs/routing/src/routing-policy.js';
import { BatchesController } from './batches.controller.js';
import { HealthController } from './health.controller.js';
import { PoolsController } from './pools.controller.js';
import { ProvidersController } from './providers.controller.js';

/** HTTP only: controllers, Bull Board, and the producers they need. No processor is imported here. */
@Module({})
export class ApiModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        ConfigModule.forRoot(config),
        RedisModule,
        QueueModule.forRoot(config),
        PoolsModule,
        BullBoardModule.forRoot({ route: '/admin/queues', adapter: ExpressAdapter }),
        ...configuredQueues(config).map((ref) => BullBoardModule.forFeature({ name: queueName(ref), adapter: BullMQAdapter })),
      ],
      controllers: [BatchesController, PoolsController, ProvidersController, HealthController],
      providers: [
        { provide: RoutingPolicy, useValue: new RoutingPolicy() },
        {
          provide: BatchIntake,
          inject: [BatchStore, JobQueue, ProviderDirectory, RoutingPolicy, APP_CONFIG],
          useFactory: (store: BatchStore, queue: JobQueue, dir: ProviderDirectory, policy: RoutingPolicy, c: AppConfig) =>
            new BatchIntake(store, queue, dir, policy, {
              maxItems: c.http.maxItems,
              maxOutputTokens: c.maxOutputTokens,
              localModels: c.localModels.map((m) => m.name),
            }),
        },
      ],
    };
  }
}
