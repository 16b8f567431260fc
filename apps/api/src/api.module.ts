import { ExpressAdapter } from '@bull-board/express';
import { BullBoardModule } from '@bull-board/nestjs';
import { Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { AccessModule } from '#libs/access';
import type { AppConfig } from '#libs/config';
import { ConfigModule } from '#libs/config';
import { RedisModule } from '#libs/redis';
import { QueueModule, configuredQueues, queueLimiterMax, queueName } from '#libs/queue';
import { IntakeModule } from '../../wiring/src/intake.module.js';
import { SchedulesModule } from '../../wiring/src/schedules.module.js';
import { TextFreeBullMQAdapter } from './bull-board-adapter.js';
import { BatchesController } from './batches.controller.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { HealthController } from './health.controller.js';
import { KeysController } from './keys.controller.js';
import { RateLimitGuard } from './rate-limit.guard.js';
import { PoolsController } from './pools.controller.js';
import { ProvidersController } from './providers.controller.js';
import { SchedulesController } from './schedules.controller.js';
import { AuditController } from './audit.controller.js';
import { IntakeTokenizer } from './intake-tokenizer.js';
import { RepositoriesController } from './repositories.controller.js';
import { OpenApiModule } from './openapi/openapi.module.js';
import { MetricsController } from './metrics.controller.js';
import { SystemStateMetrics } from './system-state-metrics.js';
import { BatchEventsController } from './batch-events.controller.js';
import { DashboardController } from './dashboard/dashboard.controller.js';
import { CallbacksController } from './callbacks.controller.js';
import { CallbacksModule } from '#libs/callbacks';
import { OpenAIBatchesController } from './openai/openai-batches.controller.js';
import { OpenAIFilesController } from './openai/openai-files.controller.js';
import { openAIBatchesProvider, openAIUploads } from './openai/openai-batches.provider.js';
import { TelemetryModule } from '#libs/telemetry';
import { ReplicatedWritesInterceptor } from './replicated-writes.interceptor.js';

/**
 * Bull Board's times in UTC, named so, as the dashboard, the API and the logs give them: it wrote the browser's
 * local time with no zone ("1:37:28 AM"), so a job's times read hours apart from its batch's on the dashboard.
 */
const UTC = { timeZone: 'UTC', timeZoneName: 'short' } as const;
const BOARD_OPTIONS = {
  uiConfig: {
    dateFormats: {
      short: { hour: 'numeric', minute: '2-digit', second: '2-digit', ...UTC },
      common: { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', second: '2-digit', ...UTC },
      full: {
        year: 'numeric',
        month: 'short',
        day: 'numeric',
        hour: 'numeric',
        minute: '2-digit',
        second: '2-digit',
        ...UTC,
      },
    },
  },
} as const;

/** HTTP only: controllers, Bull Board, and the producers they need. No processor is imported here. */
@Module({})
export class ApiModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        ConfigModule.forRoot(config),
        // Flushes buffered spans on shutdown (nothing to do when tracing is off).
        TelemetryModule,
        RedisModule,
        QueueModule.forRoot(config),
        IntakeModule,
        SchedulesModule,
        AccessModule,
        OpenApiModule,
        CallbacksModule,
        openAIUploads(config),
        BullBoardModule.forRoot({ route: '/admin/queues', adapter: ExpressAdapter, boardOptions: BOARD_OPTIONS }),
        // Read-only: Bull Board's actions (remove, retry, promote, clean, obliterate; a Job Scheduler's remove, edit,
        // run now) act on BullMQ behind the system's back — a waiting item's job removed leaves the item queued
        // for ever, a schedule removed there still lists as defined. The API's own endpoints do those things.
        ...configuredQueues(config).map((ref) =>
          BullBoardModule.forFeature({
            name: queueName(ref),
            adapter: TextFreeBullMQAdapter.limitedAt(queueLimiterMax(ref, config)),
            options: { readOnlyMode: true },
          }),
        ),
      ],
      controllers: [
        BatchesController,
        SchedulesController,
        PoolsController,
        ProvidersController,
        KeysController,
        HealthController,
        AuditController,
        RepositoriesController,
        MetricsController,
        BatchEventsController,
        CallbacksController,
        OpenAIFilesController,
        OpenAIBatchesController,
        DashboardController,
      ],
      // Global guards run in this order: who is calling (and may they), then how much they may.
      providers: [
        IntakeTokenizer,
        SystemStateMetrics,
        openAIBatchesProvider,
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_GUARD, useClass: RateLimitGuard },
        { provide: APP_INTERCEPTOR, useClass: ReplicatedWritesInterceptor },
      ],
    };
  }
}
