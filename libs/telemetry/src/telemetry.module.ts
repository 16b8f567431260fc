import { Module, type OnApplicationShutdown } from '@nestjs/common';
import { stopTracing } from './start-tracing.js';

/**
 * Flushes the spans still buffered when the app shuts down (a batch span processor holds them up to
 * OTEL_BSP_SCHEDULE_DELAY), within 2 s so a collector that is gone cannot hold up the exit.
 */
@Module({})
export class TelemetryModule implements OnApplicationShutdown {
  async onApplicationShutdown(): Promise<void> {
    await stopTracing(2_000);
  }
}
