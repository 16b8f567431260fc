import { Module } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { REDIS, type RedisClient } from '#libs/redis';
import { BatchesModule } from '#libs/batches';
import { BatchStore } from '#libs/batches';
import { JobQueue } from '#libs/queue';
import { CircuitRegistry } from '#libs/pools';
import { PoolRegistry } from '#libs/pools';
import { TokenRateLimiter } from '#libs/pools';
import { ProviderDirectory } from '#libs/pools';
import { ProviderCapabilities } from '#libs/pools';
import { ProviderBatchLedger } from '#libs/pools';

/** A heartbeat lives three beats: one late beat is tolerated, a dead worker drops out within seconds. */
const HEARTBEAT_TTL_BEATS = 3;

@Module({
  imports: [BatchesModule],
  providers: [
    {
      provide: PoolRegistry,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: RedisClient, c: AppConfig) =>
        new PoolRegistry(redis, c.prefix, c.heartbeatMs * HEARTBEAT_TTL_BEATS),
    },
    {
      provide: CircuitRegistry,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: RedisClient, c: AppConfig) => new CircuitRegistry(redis, c.prefix, c.circuit),
    },
    {
      provide: TokenRateLimiter,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: RedisClient, c: AppConfig) => new TokenRateLimiter(redis, c.prefix),
    },
    {
      provide: ProviderCapabilities,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: RedisClient, c: AppConfig) =>
        new ProviderCapabilities(redis, c.prefix, { memoryMs: c.capabilityMemoryMs }),
    },
    {
      provide: ProviderBatchLedger,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: RedisClient, c: AppConfig) => new ProviderBatchLedger(redis, c.prefix),
    },
    {
      provide: ProviderDirectory,
      inject: [
        APP_CONFIG,
        PoolRegistry,
        BatchStore,
        CircuitRegistry,
        JobQueue,
        ProviderCapabilities,
        ProviderBatchLedger,
      ],
      useFactory: (
        c: AppConfig,
        pools: PoolRegistry,
        store: BatchStore,
        circuits: CircuitRegistry,
        jobs: JobQueue,
        capabilities: ProviderCapabilities,
        providerBatches: ProviderBatchLedger,
      ) => new ProviderDirectory(c, pools, store, circuits, jobs, capabilities, providerBatches),
    },
  ],
  exports: [
    PoolRegistry,
    ProviderDirectory,
    CircuitRegistry,
    TokenRateLimiter,
    ProviderCapabilities,
    ProviderBatchLedger,
    BatchesModule,
  ],
})
export class PoolsModule {}
