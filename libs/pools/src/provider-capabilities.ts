import { defineScript, globalKeyPrefix, redisScript, type RedisClient } from '#libs/redis';
import { CAPABILITIES, type Capability } from '#libs/routing';

/** A kind of request a provider was found to refuse, from when, until when it is believed. */
export interface LearnedLack {
  capability: Capability;
  /** Epoch ms. */
  learnedAt: number;
  /** Epoch ms: after this the provider is tried again (a fixed server gets traffic back). */
  expiresAt: number;
  /** Distinct items refused that way within the window, when it was learned. */
  refusals: number;
}

export interface CapabilitySettings {
  /** How long a learned lack is believed (CAPABILITY_MEMORY_MS). */
  memoryMs: number;
  /** Distinct items refused the same way before the provider is believed unable (one could be the item's fault). */
  refusalsToLearn: number;
  /** Refusals further apart than this do not add up. */
  windowMs: number;
}

export const DEFAULT_CAPABILITY_SETTINGS: CapabilitySettings = {
  memoryMs: 3_600_000,
  refusalsToLearn: 2,
  windowMs: 600_000,
};

/**
 * KEYS[1] refusals (sorted set: item → time), KEYS[2] the learned lack (a string with a TTL).
 * ARGV[1] item ref, ARGV[2] now, ARGV[3] window ms, ARGV[4] refusals to learn, ARGV[5] memory ms, ARGV[6] capability.
 * Returns {lack JSON, 1} when this refusal taught it, {lack JSON, 0} when it was known already, else nil.
 */
const RECORD_REFUSAL_LUA = `
local known = redis.call('GET', KEYS[2])
if known then return {known, 0} end
local now = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
local n = redis.call('ZCARD', KEYS[1])
if n < tonumber(ARGV[4]) then return nil end
local lack = cjson.encode({capability = ARGV[6], learnedAt = now, expiresAt = now + tonumber(ARGV[5]), refusals = n})
redis.call('SET', KEYS[2], lack, 'PX', tonumber(ARGV[5]))
redis.call('DEL', KEYS[1])
return {lack, 1}
`;

const RECORD_REFUSAL = redisScript<
  'refusals' | 'lacks',
  readonly [
    itemRef: string,
    now: string,
    windowMs: string,
    refusalsToLearn: string,
    memoryMs: string,
    capability: string,
  ],
  [string, number] | null
>({ name: 'syRecordRefusal', keys: ['refusals', 'lacks'], lua: RECORD_REFUSAL_LUA });

/**
 * What providers were found unable to do, learned from their refusals: a server that answers 400 to
 * every structured request (llama.cpp's server without a usable chat template refuses `response_format`)
 * is, after a few items, routed around for requests of that shape instead of being paid a refused request
 * per item. The memory expires, so a server that was fixed gets such requests again.
 */
export class ProviderCapabilities {
  private readonly settings: CapabilitySettings;
  private readonly recordScript;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    settings: Partial<CapabilitySettings> = {},
  ) {
    this.settings = { ...DEFAULT_CAPABILITY_SETTINGS, ...settings };
    this.recordScript = defineScript(redis, RECORD_REFUSAL);
  }

  /**
   * `provider` refused `itemRef`'s request of that shape; returns the lack once enough items were refused so
   * (`learnedNow`: by this refusal).
   */
  async recordRefusal(
    provider: string,
    capability: Capability,
    itemRef: string,
    now = Date.now(),
  ): Promise<{ lack: LearnedLack; learnedNow: boolean } | null> {
    const { windowMs, refusalsToLearn, memoryMs } = this.settings;
    const lack = await this.recordScript(
      { refusals: this.key(provider, capability, 'refusals'), lacks: this.key(provider, capability, 'lacks') },
      [itemRef, String(now), String(windowMs), String(refusalsToLearn), String(memoryMs), capability],
    );
    return lack ? { lack: JSON.parse(lack[0]) as LearnedLack, learnedNow: lack[1] === 1 } : null;
  }

  /** What `provider` is believed unable to do now (expired lacks are gone). */
  async lacks(provider: string): Promise<LearnedLack[]> {
    const raw = await this.redis.mget(CAPABILITIES.map((c) => this.key(provider, c, 'lacks')));
    return raw.flatMap((r) => (r ? [JSON.parse(r) as LearnedLack] : []));
  }

  private key(provider: string, capability: Capability, what: 'refusals' | 'lacks'): string {
    // Global records, one slot on a Redis Cluster: the script and lacks()'s MGET span them.
    return `${globalKeyPrefix(this.prefix)}:capability:${provider}:${capability}:${what}`;
  }
}
