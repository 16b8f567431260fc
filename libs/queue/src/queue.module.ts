import { BullModule, getQueueToken } from '@nestjs/bullmq';
import { Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { APP_CONFIG } from '#libs/config/src/config.module.js';
import type { AppConfig } from '#libs/config/src/app-config.js';
import { JobQueue } from './job-queue.js';
import { ALL_QUEUES, type QueueName } from './queue-names.js';

/** Registers every queue with @nestjs/bullmq (so Bull Board sees them) and provides the JobQueue over them. */
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({ connection: { url: config.redisUrl! }, prefix: config.prefix }),
    }),
    BullModule.registerQueue(...ALL_QUEUES.map((name) => ({ name }))),
  ],
  providers: [
    {
      provide: JobQueue,
      inject: [APP_CONFIG, ...ALL_QUEUES.map((name) => getQueueToken(name))],
      useFactory: (config: AppConfig, ...queues: Queue[]) =>
        new JobQueue(
          Object.fromEntries(ALL_QUEUES.map((name, i) => [name, queues[i]])) as Record<QueueName, Queue>,
          { url: config.redisUrl! },
          config.prefix,
          config.queue,
        ),
    },
  ],
  exports: [JobQueue, BullModule],
})
export class QueueModule implements OnApplicationShutdown {
  constructor(private readonly jobs: JobQueue) {}

  async onApplicationShutdown(): Promise<void> {
    await this.jobs.closeConsumers();
  }
}
