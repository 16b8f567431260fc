import type { RedisClient } from '#libs/redis';
import type { RouteTarget } from '#libs/routing';
import type { BatchKeys } from './batch-keys.js';
import { providerKey } from './item-transitions.js';

/**
 * Work waiting or running on each provider, in generation-equivalent tokens. Each batch keeps its own share
 * (BatchKeys.batchBacklog), moved by the item scripts atomically with the item: an item adds its estimate
 * when created, moves it along on a reroute and takes it back when it finishes, exactly once. A provider's
 * backlog is the sum over the open batches. On a Redis Cluster a global counter could not change in the
 * same atomic step as an item (another slot), and a crash between the two would leave it wrong for good;
 * the sum is exact by construction (issue 14 §4).
 */
export class ProviderBacklog {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: BatchKeys,
  ) {}

  /** Never negative: float sums can leave a hair below zero once everything is released. */
  async tokens(target: RouteTarget, provider: string): Promise<number> {
    return (await this.all())(target, provider);
  }

  /**
   * Every provider's backlog from one read of the open batches' shares: a routing call asks for each
   * provider, and reading the shares once per provider would repeat the same reads for every one.
   */
  async all(): Promise<(target: RouteTarget, provider: string) => number> {
    const sums = new Map<string, number>();
    for (const share of await this.shares()) {
      for (const [field, work] of Object.entries(share)) sums.set(field, (sums.get(field) ?? 0) + Number(work));
    }
    return (target, provider) => Math.max(0, sums.get(providerKey(target, provider)) ?? 0);
  }

  /**
   * Every open batch's share. A batch whose share is gone (deleted when it finished) leaves the open set:
   * a share is written before the batch joins the set (BatchCreation), so a missing one is a finished batch.
   */
  private async shares(): Promise<Array<Record<string, string>>> {
    const ids = await this.redis.smembers(this.keys.openBacklogs());
    const shares = await Promise.all(ids.map((id) => this.redis.hgetall(this.keys.batchBacklog(id))));
    const finished = ids.filter((_, i) => Object.keys(shares[i]).length === 0);
    // Housekeeping for later reads, not awaited: an empty share adds nothing to this sum, and a removal that
    // fails is made by the next read that finds it. Awaiting it put a write (an fsync) on every routing call.
    if (finished.length > 0) this.redis.srem(this.keys.openBacklogs(), ...finished).catch(() => undefined);
    return shares;
  }
}
