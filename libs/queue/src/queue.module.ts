import { BullModule, getQueueToken } from '@nestjs/bullmq';
import { Inject, Module, type DynamicModule } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnApplicationShutdown } from '@nestjs/common';
import type { ConnectionOptions, Queue } from 'bullmq';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { shutdownPlan } from '#libs/lifecycle';
import { bullConnection, redisOutage, type BullConnection } from '#libs/redis';
import { bullPrefix } from './bull-prefix.js';
import { BULL_SETTINGS } from './cron-slots.js';
import { JobQueue } from './job-queue.js';
import { queueTelemetry } from './queue-telemetry.js';
import { configuredQueues, queueName } from './queue-names.js';

const BULL_CONNECTION = Symbol('BULL_CONNECTION');

/**
 * Registers every configured queue with @nestjs/bullmq (so Bull Board sees them) and provides the
 * JobQueue over them. Queues follow config: one per local model and per cloud provider.
 */
@Module({})
export class QueueModule implements BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    private readonly jobs: JobQueue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(BULL_CONNECTION) private readonly bull: BullConnection,
  ) {}

  static forRoot(config: AppConfig): DynamicModule {
    const names = configuredQueues(config).map(queueName);
    // One per process: options on one server or Sentinel, a Cluster instance the queues share on a Cluster.
    const bull = bullConnection(config.redis.topology);
    // ioredis's own options or Cluster; BullMQ's ConnectionOptions types the same options more loosely.
    const connection = bull.connection as ConnectionOptions;
    return {
      module: QueueModule,
      global: true,
      imports: [
        BullModule.forRootAsync({
          inject: [APP_CONFIG],
          // telemetry: every add starts a producer span whose context the job carries to its worker.
          // settings: a cron Job Scheduler's next slot, as nextCronSlot reads it (upserts are worked out here).
          useFactory: (c: AppConfig) => ({
            connection,
            prefix: bullPrefix(c.prefix),
            telemetry: queueTelemetry(),
            settings: BULL_SETTINGS,
          }),
        }),
        BullModule.registerQueue(...names.map((name) => ({ name }))),
      ],
      providers: [
        { provide: BULL_CONNECTION, useValue: bull },
        {
          provide: JobQueue,
          inject: [APP_CONFIG, ...names.map((name) => getQueueToken(name))],
          useFactory: (c: AppConfig, ...queues: Queue[]) => {
            // Without an 'error' listener BullMQ prints each reconnect attempt's error.
            queues.forEach((q, i) => redisOutage.watchQueue(q, `queue ${names[i]}`));
            const byName = new Map(names.map((name, i) => [name, queues[i]]));
            return new JobQueue(byName, connection, c.prefix, c.queue, () => bull.waitForReplicas(c.redis.wait));
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
    // After the queues (closed by @nestjs/bullmq before this module's hook) and the workers: BullMQ never
    // closes a client it was given.
    await this.bull.close();
  }
}
