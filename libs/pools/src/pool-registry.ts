import type { Redis } from 'ioredis';
import type { RouteTarget } from '#libs/routing/src/routing-policy.js';
import { RATIO_DECAY, TokenCalibration, type RatioSums, type TaskKind, type TokenCounts } from '#libs/routing/src/token-calibration.js';
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
 * KEYS[1] hash; ARGV kind, decay, then actual and estimated input tokens, then output tokens: foldRatio of
 * libs/routing, as JSON under `input:<kind>` and `output:<kind>` (ratioKey).
 */
const FOLD_RATIOS_LUA = `
local d = tonumber(ARGV[2])
for i, direction in ipairs({ 'input', 'output' }) do
  local field = direction .. ':' .. ARGV[1]
  local prev = redis.call('HGET', KEYS[1], field)
  local s = prev and cjson.decode(prev) or { actual = 0, expected = 0, samples = 0 }
  s.actual = s.actual * d + tonumber(ARGV[1 + 2 * i])
  s.expected = s.expected * d + tonumber(ARGV[2 + 2 * i])
  s.samples = s.samples + 1
  redis.call('HSET', KEYS[1], field, cjson.encode(s))
end
`;

/**
 * Live pools and what completions measured (throughput per provider, token ratios per task kind), in Redis. A heartbeat expires after `ttlMs`, so a crashed
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

  /**
   * Folds one completed item into its kind's token ratios, atomically: a pool finishes several items at
   * once, and a read-then-write lost a third of them in the end-to-end test.
   */
  async recordTokenRatios(kind: TaskKind, actual: TokenCounts, estimated: TokenCounts): Promise<void> {
    await this.redis.eval(FOLD_RATIOS_LUA, 1, this.ratiosKey(), kind, RATIO_DECAY, actual.inputTokens, estimated.inputTokens, actual.outputTokens, estimated.outputTokens);
  }

  async tokenCalibration(): Promise<TokenCalibration> {
    const all = await this.redis.hgetall(this.ratiosKey());
    return new TokenCalibration(Object.fromEntries(Object.entries(all).map(([field, json]) => [field, JSON.parse(json) as RatioSums])));
  }

  private key(id: string): string {
    return `${this.prefix}:sy:pool:${id}`;
  }
  private indexKey(): string {
    return `${this.prefix}:sy:pools`;
  }
  private ratiosKey(): string {
    return `${this.prefix}:sy:token-ratios`;
  }
  private throughputKey(target: RouteTarget, provider: string): string {
    return `${this.prefix}:sy:tps:${target}:${provider}`;
  }
}
