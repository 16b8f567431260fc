import { BullModule, getQueueToken } from '@nestjs/bullmq';
import { Inject, Module, type DynamicModule } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnApplicationShutdown } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { shutdownPlan } from '#libs/lifecycle';
import { redisOutage } from '#libs/redis';
import { bullPrefix } from './bull-prefix.js';
import { JobQueue } from './job-queue.js';
import { configuredQueues, queueName } from './queue-names.js';

/**
 * Registers every configured queue with @nestjs/bullmq (so Bull Board sees them) and provides the
 * JobQueue over them. Queues follow config: one per local model and per cloud provider.
 */
@Module({})
export class QueueModule implements BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    private readonly jobs: JobQueue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  static forRoot(config: AppConfig): DynamicModule {
    const names = configuredQueues(config).map(queueName);
    return {
      module: QueueModule,
      global: true,
      imports: [
        BullModule.forRootAsync({
          inject: [APP_CONFIG],
          useFactory: (c: AppConfig) => ({ connection: { url: c.redisUrl! }, prefix: bullPrefix(c.prefix) }),
        }),
        BullModule.registerQueue(...names.map((name) => ({ name }))),
      ],
      providers: [
        {
          provide: JobQueue,
          inject: [APP_CONFIG, ...names.map((name) => getQueueToken(name))],
          useFactory: (c: AppConfig, ...queues: Queue[]) => {
            // Without an 'error' listener BullMQ prints each reconnect attempt's error.
            queues.forEach((q, i) => redisOutage.watchQueue(q, `queue ${names[i]}`));
            const byName = new Map(names.map((name, i) => [name, queues[i]]));
            return new JobQueue(byName, { url: c.redisUrl! }, c.prefix, c.queue);
          },
        },
      ],
      exports: [JobQueue, BullModule],
    };
  }

  /**
   * Runs before @nestjs/bullmq closes each queue with QUIT, which waits for a reconnect while Redis is
   * gone: dropping the connections first lets those closes return at once.
   */
  beforeApplicationShutdown(): void {
    if (redisOutage.active) this.jobs.disconnectQueues();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.jobs.closeConsumers(shutdownPlan(this.config.shutdownTimeoutMs).drainMs);
  }
}
