import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '#libs/config/src/app-config.js';
import { ConfigModule } from '#libs/config/src/config.module.js';
import { RedisModule } from '#libs/redis/src/redis.module.js';
import { QueueModule } from '#libs/queue/src/queue.module.js';
import { IntakeModule } from '#libs/batches/src/intake.module.js';
import { SchedulesModule } from '#libs/schedules/src/schedules.module.js';
import { WorkerLifecycle } from './worker-lifecycle.js';

/** The only app that runs processors. No HTTP server. */
@Module({})
export class WorkerModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [ConfigModule.forRoot(config), RedisModule, QueueModule.forRoot(config), IntakeModule, SchedulesModule],
      providers: [WorkerLifecycle],
    };
  }
}
