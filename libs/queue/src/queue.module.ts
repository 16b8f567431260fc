import { BullModule, getQueueToken } from '@nestjs/bullmq';
import { Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { APP_CONFIG } from '#libs/config/src/config.module.js';
import type { AppConfig } from '#libs/config/src/app-config.js';
import { JobQueue } from './job-queue.js';
import { configuredQueues, queueName } from './queue-names.js';

/**
 * Registers every configured queue with @nestjs/bullmq (so Bull Board sees them) and provides the
 * JobQueue over them. Queues follow config: one per local model and per cloud provider.
 */
@Module({})
export class QueueModule implements OnApplicationShutdown {
  constructor(private readonly jobs: JobQueue) {}

  static forRoot(config: AppConfig): DynamicModule {
    const names = configuredQueues(config).map(queueName);
    return {
      module: QueueModule,
      global: true,
      imports: [
        BullModule.forRootAsync({
          inject: [APP_CONFIG],
          useFactory: (c: AppConfig) => ({ connection: { url: c.redisUrl! }, prefix: c.prefix }),
        }),
        BullModule.registerQueue(...names.map((name) => ({ name }))),
      ],
      providers: [
        {
          provide: JobQueue,
          inject: [APP_CONFIG, ...names.map((name) => getQueueToken(name))],
          useFactory: (c: AppConfig, ...queues: Queue[]) =>
            new JobQueue(new Map(names.map((name, i) => [name, queues[i]])), { url: c.redisUrl! }, c.prefix, c.queue),
        },
      ],
      exports: [JobQueue, BullModule],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.jobs.closeConsumers();
  }
}
