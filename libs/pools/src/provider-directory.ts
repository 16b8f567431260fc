import type { AppConfig, CloudProviderConfig, LocalModelConfig } from '#libs/config/src/app-config.js';
import type { BatchStore } from '#libs/batches/src/batch-store.js';
import type { ProviderView, RoutingState } from '#libs/routing/src/routing-policy.js';
import type { CircuitRegistry } from './circuit-registry.js';
import type { PoolHeartbeat, PoolRegistry } from './pool-registry.js';

/** Cloud APIs serve many requests at once; this bounds how fast our backlog with them drains. */
const CLOUD_PARALLELISM = 16;

/**
 * Assembles what the routing policy knows, from config (who exists, prices, clearance) and Redis
 * (measured speeds, live pools, backlog). The policy itself stays pure.
 */
export class ProviderDirectory {
  constructor(
    private readonly config: AppConfig,
    private readonly pools: PoolRegistry,
    private readonly store: BatchStore,
    private readonly circuits: CircuitRegistry,
  ) {}

  async routingState(now = Date.now()): Promise<RoutingState> {
    const live = await this.pools.live(now);
    const providers: ProviderView[] = await Promise.all(this.config.localModels.map((m) => this.localView(m, live)));
    providers.push(...(await Promise.all(this.config.cloudProviders.map((p) => this.cloudView(p)))));
    return { now, providers };
  }

  private async localView(local: LocalModelConfig, live: PoolHeartbeat[]): Promise<ProviderView> {
    const pools = live.filter((p) => p.target === 'local' && p.provider === local.name && p.status === 'consuming');
    // Sequences running across every live pool of this model; before any has reported, the configured number.
    const sequences = pools.reduce((sum, p) => sum + p.activeSequences, 0);
    return {
      target: 'local',
      name: local.name,
      model: local.name,
      clearance: 'restricted',
      price: local.price,
      tokensPerSec: (await this.pools.throughput('local', local.name)) ?? local.tokensPerSecDefault,
      concurrency: sequences > 0 ? sequences : local.sequences === 'auto' ? 1 : local.sequences,
      backlogTokens: await this.store.backlog('local', local.name),
      latencyMs: 0,
      // No live pool of this model: down, as far as routing goes (items routed here wait for one).
      available: pools.length > 0,
    };
  }

  private async cloudView(cloud: CloudProviderConfig): Promise<ProviderView> {
    return {
      target: 'cloud',
      name: cloud.name,
      model: cloud.model,
      clearance: cloud.clearance,
      price: cloud.price,
      tokensPerSec: (await this.pools.throughput('cloud', cloud.name)) ?? cloud.tokensPerSec,
      concurrency: CLOUD_PARALLELISM,
      backlogTokens: await this.store.backlog('cloud', cloud.name),
      latencyMs: cloud.latencyMs,
      available: (await this.circuits.get(cloud.name)).state !== 'open',
    };
  }
}
