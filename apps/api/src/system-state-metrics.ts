import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { AppConfig } from '#libs/config';
import { APP_CONFIG } from '#libs/config';
import { metrics, onScrape, type SystemState } from '#libs/metrics';
import { CircuitRegistry, PoolRegistry } from '#libs/pools';
import { JobQueue, configuredQueues, queueName } from '#libs/queue';

/**
 * What the whole system holds in Redis, read at each scrape of the API's /metrics: every queue's depth
 * (through the queue layer), each cloud provider's circuit, measured speeds and the pools whose heartbeat
 * is live. Read here, once, rather than by every worker: a scrape of any API replica sees all of it.
 */
@Injectable()
export class SystemStateMetrics implements OnModuleInit, OnModuleDestroy {
  private stop?: () => void;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(JobQueue) private readonly jobs: JobQueue,
    @Inject(CircuitRegistry) private readonly circuits: CircuitRegistry,
    @Inject(PoolRegistry) private readonly pools: PoolRegistry,
  ) {}

  onModuleInit(): void {
    this.stop = onScrape(
      async () => metrics.systemState(await this.read()),
      () => metrics.systemStateUnknown(),
    );
  }

  onModuleDestroy(): void {
    this.stop?.();
  }

  async read(): Promise<SystemState> {
    const queues = await Promise.all(
      configuredQueues(this.config)
        .filter((ref) => this.jobs.has(ref))
        .map(async (ref) => {
          const { waiting, prioritized, delayed, active, failed } = await this.jobs.depth(ref);
          return { queue: queueName(ref), jobs: { waiting, prioritized, delayed, active, failed } };
        }),
    );
    const circuits = await Promise.all(
      this.config.cloudProviders.map(async (p) => ({
        provider: p.name,
        state: (await this.circuits.get(p.name)).state,
      })),
    );
    const live = await this.pools.live();
    const providers = [...new Map(live.map((p) => [`${p.target}:${p.provider}`, p])).values()];
    const throughput = await Promise.all(
      providers.map(async (p) => ({
        target: p.target,
        provider: p.provider,
        tokensPerSec: await this.pools.throughput(p.target, p.provider),
      })),
    );
    return {
      queues,
      circuits,
      throughput: throughput.flatMap((t) => (t.tokensPerSec === null ? [] : [{ ...t, tokensPerSec: t.tokensPerSec }])),
      pools: live.map((p) => ({ target: p.target, provider: p.provider, status: p.status })),
    };
  }
}
