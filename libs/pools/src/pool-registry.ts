import type { Redis } from 'ioredis';
import type { RouteTarget } from '#libs/routing/src/routing-policy.js';
import { ewma } from '#libs/routing/src/throughput-estimate.js';

/** What a consuming worker publishes about itself every few seconds. */
export interface PoolHeartbeat {
  /** host:pid:queue — one entry per consumer. */
  id: string;
  target: RouteTarget;
  provider: string;
  model: string;
  queue: string;
  host: string;
  pid: number;
  /** "cpu", "cuda", "vulkan", "metal", or "api" for a cloud pool. */
  device: string;
  deviceNames: string[];
  /** VRAM on a GPU, RAM on a CPU; null for a cloud pool. */
  memory: { totalBytes: number; freeBytes: number } | null;
  /** Bytes of model weights on the device (local pools). */
  modelBytes: number | null;
  /** 'does-not-fit': the model does not fit in the device's memory; the pool does not consume. */
  status: 'consuming' | 'does-not-fit';
  reason: string;
  /** Sequences allocated in the context (the most this pool can run at once). */
  sequences: number;
  /** Sequences it lets run now (shrunk below `sequences` while memory is short). */
  activeSequences: number;
  busy: number;
  startedAt: number;
  at: number;
}

/**
 * Live pools and measured throughput, in Redis. A heartbeat expires after `ttlMs`, so a crashed
 * worker drops out of /ready and the routing state on its own.
 */
export class PoolRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  async beat(hb: PoolHeartbeat): Promise<void> {
    await this.redis
      .multi()
      .set(this.key(hb.id), JSON.stringify(hb), 'PX', this.ttlMs)
      .zadd(this.indexKey(), hb.at + this.ttlMs, hb.id)
      .exec();
  }

  async remove(id: string): Promise<void> {
    await this.redis.multi().del(this.key(id)).zrem(this.indexKey(), id).exec();
  }

  async live(now = Date.now()): Promise<PoolHeartbeat[]> {
    await this.redis.zremrangebyscore(this.indexKey(), '-inf', now);
    const ids = await this.redis.zrange(this.indexKey(), 0, -1);
    if (ids.length === 0) return [];
    const rows = await this.redis.mget(ids.map((id) => this.key(id)));
    return rows.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as PoolHeartbeat);
  }

  /** Folds one measured speed into the provider's moving average. */
  async recordThroughput(target: RouteTarget, provider: string, tokensPerSec: number): Promise<number> {
    const key = this.throughputKey(target, provider);
    const prev = await this.redis.get(key);
    const next = ewma(prev === null ? null : Number(prev), tokensPerSec);
    await this.redis.set(key, String(next));
    return next;
  }

  async throughput(target: RouteTarget, provider: string): Promise<number | null> {
    const v = await this.redis.get(this.throughputKey(target, provider));
    return v === null ? null : Number(v);
  }

  private key(id: string): string {
    return `${this.prefix}:sy:pool:${id}`;
  }
  private indexKey(): string {
    return `${this.prefix}:sy:pools`;
  }
  private throughputKey(target: RouteTarget, provider: string): string {
    return `${this.prefix}:sy:tps:${target}:${provider}`;
  }
}
