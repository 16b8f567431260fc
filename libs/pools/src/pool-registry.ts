import { defineScript, globalKeyPrefix, redisScript, type RedisClient } from '#libs/redis';
import type { RouteTarget } from '#libs/routing';
import { FIT_DECAY, fitLatency, fitPoint, type FitSums, type LatencyFit } from '#libs/routing';
import {
  RATIO_DECAY,
  TokenCalibration,
  ratioKey,
  type RatioSums,
  type TaskKind,
  type TokenCounts,
} from '#libs/routing';
import { ewma } from '#libs/routing';
import type { EngineKind } from '#libs/config';
import type { EngineReading } from './engine-capacity.js';
import { SumFolds, type PendingFold } from './sum-folds.js';

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
  /**
   * How a node-llama-cpp pool lays its model's prompts out: the chat wrapper's name ("ChatML", "Llama 3", "Jinja
   * template", …), what LOCAL_CHAT_WRAPPER pinned or `auto` matched to the file's template. Absent elsewhere.
   */
  chatWrapper?: string;
  /**
   * 'does-not-fit': the model does not fit in the device's memory; the pool does not consume. 'loading': the
   * pool is loading its model and will consume at `expectedReadyAt`; 'restarting': it stopped cleanly and is
   * expected back then (issue 19). 'unreachable': an engine pool whose engine does not answer; it takes no jobs.
   * 'failed': the model file cannot be read or loaded (not GGUF, cut short, an architecture llama.cpp does not
   * know); the pool does not consume, and a restart will not help.
   */
  status: 'consuming' | 'does-not-fit' | 'failed' | 'loading' | 'restarting' | 'unreachable';
  reason: string;
  /** Sequences allocated in the context (the most this pool can run at once). */
  sequences: number;
  /** Sequences it lets run now (shrunk below `sequences` while memory is short). */
  activeSequences: number;
  busy: number;
  startedAt: number;
  at: number;
  /** Loading or restarting: when it expects to consume, from the measured load time of its model. */
  expectedReadyAt?: number;
  /**
   * An engine pool (ENGINE_POOLS): which engine, where, its last reading (null until one came back), and the
   * context per request the worker holds items to from that reading (engineContext), which routing uses too;
   * absent until a reading came back (and from the heartbeats of workers older than it).
   */
  engine?: {
    kind: EngineKind;
    host: string;
    reading: EngineReading | null;
    readAt: number | null;
    contextTokens?: number;
  };
}

/** A pool's last heartbeat, kept after it stopped beating, for SEEN_RETENTION_MS. */
export type SeenPool = PoolHeartbeat;

/** How long a pool's last heartbeat is kept after it stops beating: what GET /v1/pools lists as gone. */
export const SEEN_RETENTION_MS = 3_600_000;

/**
 * Decayed sums, folded atomically: KEYS[1] a hash, ARGV[1] the decay per sample, then triples of a field, a count
 * of samples and a JSON object of their increments (already decayed among themselves: SumFolds). Each field holds
 * a JSON object of sums; every sum is multiplied by the decay once per sample and the increment added, and
 * `samples` counts them. TokenCalibration's foldRatio and LatencyFit's foldFit, done where concurrent workers
 * cannot lose each other's samples.
 */
const FOLD_SUMS_LUA = `
local d = tonumber(ARGV[1])
for i = 2, #ARGV, 3 do
  local count = tonumber(ARGV[i + 1])
  local dk = d ^ count
  local prev = redis.call('HGET', KEYS[1], ARGV[i])
  local s = prev and cjson.decode(prev) or {}
  for k, v in pairs(cjson.decode(ARGV[i + 2])) do s[k] = (s[k] or 0) * dk + v end
  s.samples = (s.samples or 0) + count
  redis.call('HSET', KEYS[1], ARGV[i], cjson.encode(s))
end
`;

const FOLD_SUMS = redisScript<'sums', readonly [decay: string, ...fieldCountIncrementTriples: string[]], null>({
  name: 'syFoldSums2',
  keys: ['sums'],
  lua: FOLD_SUMS_LUA,
});

/**
 * Live pools and what completions measured (throughput per provider, token ratios per task kind, cloud
 * latency fits), in Redis. A heartbeat expires after `ttlMs`, so a crashed
 * worker drops out of /ready and the routing state on its own.
 */
export class PoolRegistry {
  private readonly global: string;
  /** Token ratios and latency fits: one fold call in flight per hash, samples arriving meanwhile go in the next. */
  private readonly ratioFolds: SumFolds;
  private readonly fitFolds: SumFolds;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly ttlMs: number,
  ) {
    this.global = globalKeyPrefix(prefix);
    const foldSums = defineScript(redis, FOLD_SUMS);
    const sender = (key: string) => (decay: number, folds: PendingFold[]) =>
      foldSums({ sums: key }, [
        String(decay),
        ...folds.flatMap((f) => [f.field, String(f.count), JSON.stringify(f.increments)]),
      ]);
    this.ratioFolds = new SumFolds(RATIO_DECAY, sender(this.ratiosKey()));
    this.fitFolds = new SumFolds(FIT_DECAY, sender(this.fitKey()));
  }

  /**
   * Publishes the heartbeat for `ttlMs` (the registry's own by default; a restarting pool's lasts its grace),
   * and keeps it as the pool's last one seen.
   */
  async beat(hb: PoolHeartbeat, ttlMs = this.ttlMs): Promise<void> {
    const json = JSON.stringify(hb);
    await this.redis
      .multi()
      .set(this.key(hb.id), json, 'PX', ttlMs)
      // Pools expired by now leave the index here, with the beats, not on every routing call's read (live()).
      .zremrangebyscore(this.indexKey(), '-inf', hb.at)
      .zadd(this.indexKey(), hb.at + ttlMs, hb.id)
      .hset(this.seenKey(), hb.id, json)
      .exec();
  }

  /**
   * The last heartbeat of every pool seen within SEEN_RETENTION_MS, live or not (older ones are dropped
   * here): the directory counts a model whose pools stopped beating as coming for its grace (issue 19).
   */
  async seen(now = Date.now()): Promise<SeenPool[]> {
    const all = Object.entries(await this.redis.hgetall(this.seenKey())).map(
      ([id, json]) => [id, JSON.parse(json) as SeenPool] as const,
    );
    const old = all.filter(([, hb]) => hb.at < now - SEEN_RETENTION_MS).map(([id]) => id);
    if (old.length > 0) await this.redis.hdel(this.seenKey(), ...old);
    return all.filter(([, hb]) => hb.at >= now - SEEN_RETENTION_MS).map(([, hb]) => hb);
  }

  /**
   * Folds one measured model load (from 'loading' to consuming) into the model's moving average: what a pool
   * announces as its expected ready time, and what the grace is derived from (issue 19).
   */
  async recordLoad(model: string, ms: number): Promise<number> {
    const prev = await this.redis.hget(this.loadKey(), model);
    const next = ewma(prev === null ? null : Number(prev), ms);
    await this.redis.hset(this.loadKey(), model, String(Math.round(next)));
    return next;
  }

  /** The model's measured load time, ms; null before any pool of it has loaded. */
  async loadMs(model: string): Promise<number | null> {
    const v = await this.redis.hget(this.loadKey(), model);
    return v === null ? null : Number(v);
  }

  /** Drops a pool that is gone for good (a cloud pool that stopped): nothing of it is kept as seen. */
  async remove(id: string): Promise<void> {
    await this.redis.multi().del(this.key(id)).zrem(this.indexKey(), id).hdel(this.seenKey(), id).exec();
  }

  /** Pools whose heartbeat has not expired by `now`: two reads (expired ones are pruned by beat()). */
  async live(now = Date.now()): Promise<PoolHeartbeat[]> {
    const ids = await this.redis.zrangebyscore(this.indexKey(), `(${now}`, '+inf');
    if (ids.length === 0) return [];
    const rows = await this.redis.mget(ids.map((id) => this.key(id)));
    return rows.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as PoolHeartbeat);
  }

  /**
   * Folds one measured speed into the provider's moving average. With a `prior` (a cloud provider's
   * configured speed) the average starts from it, so the first sample moves it by α like any other:
   * the first call after a start is the coldest (the worker's own start-up, the connection), and on
   * a busy machine it read as 36 tok/s for a 2000 tok/s double and sent tight deadlines to the local
   * pool (test/migrations.e2e-spec.ts, issue 12 §6). Without one, the first sample is the average.
   */
  async recordThroughput(target: RouteTarget, provider: string, tokensPerSec: number, prior?: number): Promise<number> {
    const key = this.throughputKey(target, provider);
    const prev = await this.redis.get(key);
    const next = ewma(prev === null ? (prior ?? null) : Number(prev), tokensPerSec);
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
    await Promise.all([
      this.ratioFolds.record(ratioKey('input', kind), { actual: actual.inputTokens, expected: estimated.inputTokens }),
      this.ratioFolds.record(ratioKey('output', kind), {
        actual: actual.outputTokens,
        expected: estimated.outputTokens,
      }),
    ]);
  }

  /** One cloud call's duration against its work, for the provider's latency fit. */
  async recordCallTiming(provider: string, workTokens: number, ms: number): Promise<void> {
    await this.fitFolds.record(provider, fitPoint(workTokens, ms));
  }

  async latencyFit(provider: string): Promise<LatencyFit | null> {
    const json = await this.redis.hget(this.fitKey(), provider);
    return json === null ? null : fitLatency(JSON.parse(json) as FitSums);
  }

  async tokenCalibration(): Promise<TokenCalibration> {
    const all = await this.redis.hgetall(this.ratiosKey());
    return new TokenCalibration(
      Object.fromEntries(Object.entries(all).map(([field, json]) => [field, JSON.parse(json) as RatioSums])),
    );
  }

  // Global records, one slot on a Redis Cluster: the heartbeat MULTI and MGET span pool keys and the index.
  private key(id: string): string {
    return `${this.global}:pool:${id}`;
  }
  private indexKey(): string {
    return `${this.global}:pools`;
  }
  private seenKey(): string {
    return `${this.global}:pools-seen`;
  }
  private loadKey(): string {
    return `${this.global}:pool-load-ms`;
  }
  private fitKey(): string {
    return `${this.global}:latency-fit`;
  }
  private ratiosKey(): string {
    return `${this.global}:token-ratios`;
  }
  private throughputKey(target: RouteTarget, provider: string): string {
    return `${this.global}:tps:${target}:${provider}`;
  }
}
