import type { Redis } from 'ioredis';
import type { RouteTarget } from '#libs/routing';
import type { BatchKeys } from './batch-keys.js';

/**
 * Work waiting or running on each provider, in generation-equivalent tokens: an item adds its estimate
 * when created, moves it along on a reroute and takes it back when it finishes (the item scripts).
 */
export class ProviderBacklog {
  constructor(
    private readonly redis: Redis,
    private readonly keys: BatchKeys,
  ) {}

  /** Never negative: float sums can leave a hair below zero once everything is released. */
  async tokens(target: RouteTarget, provider: string): Promise<number> {
    return Math.max(0, Number((await this.redis.get(this.keys.backlog(target, provider))) ?? 0));
  }
}
