import { defineScript, hashTag, redisScript, type RedisClient } from '#libs/redis';
import type { KeyLimits } from './api-key.js';

export interface RateLimits {
  /** 0: unlimited. */
  requestsPerMinute: number;
  tokensPerMinute: number;
}

export type RateDecision =
  | { allowed: true }
  | {
      allowed: false;
      limit: 'requestsPerMinute' | 'tokensPerMinute';
      max: number;
      retryAfterSec: number;
      neverFits: boolean;
    };

export const RATE_WINDOW_MS = 60_000;

/**
 * KEYS[1] requests in this window, KEYS[2] tokens in this window; ARGV: request limit, token limit,
 * tokens asked, window length (ms), requests asked (1, or 0 for more tokens of a request already
 * counted). Both counters move together or not at all, so a refused request spends nothing.
 * Returns 0 (allowed), 1 (requests over), 2 (tokens over).
 */
const CONSUME_LUA = `
local rl = tonumber(ARGV[1])
local tl = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local r = tonumber(ARGV[5])
if rl > 0 and r > 0 and tonumber(redis.call('GET', KEYS[1]) or '0') + r > rl then return 1 end
if tl > 0 and n > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') + n > tl then return 2 end
if r > 0 then
  redis.call('INCRBY', KEYS[1], r)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
if n > 0 then
  redis.call('INCRBY', KEYS[2], n)
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return 0
`;

const CONSUME_RATE = redisScript<
  'requests' | 'tokens',
  readonly [requestLimit: string, tokenLimit: string, tokens: string, ttlMs: string, requests: string],
  0 | 1 | 2
>({ name: 'syConsumeRate', keys: ['requests', 'tokens'], lua: CONSUME_LUA });

/** A key's own limits over the configured defaults. */
export function effectiveLimits(defaults: RateLimits, own: KeyLimits): RateLimits {
  return {
    requestsPerMinute: own.requestsPerMinute ?? defaults.requestsPerMinute,
    tokensPerMinute: own.tokensPerMinute ?? defaults.tokensPerMinute,
  };
}

/** Seconds until the fixed window that holds `now` ends (at least 1: "retry now" would just be refused). */
export function retryAfterSeconds(now: number, windowMs = RATE_WINDOW_MS): number {
  return Math.max(1, Math.ceil((windowMs - (now % windowMs)) / 1000));
}

/**
 * Requests and submitted tokens per key per minute, counted in Redis so every API replica shares them.
 * Fixed one-minute windows: one atomic script per request, at the price of allowing up to twice the
 * limit across a window boundary.
 */
export class KeyRateLimiter {
  private readonly consumeScript;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    this.consumeScript = defineScript(redis, CONSUME_RATE);
  }

  /** `requests`: 1 for a request, 0 for tokens found later in one already counted (a repository's files). */
  async consume(
    keyId: string,
    tokens: number,
    limits: RateLimits,
    now = Date.now(),
    requests: 0 | 1 = 1,
  ): Promise<RateDecision> {
    if (limits.tokensPerMinute > 0 && tokens > limits.tokensPerMinute) {
      return {
        allowed: false,
        limit: 'tokensPerMinute',
        max: limits.tokensPerMinute,
        retryAfterSec: retryAfterSeconds(now),
        neverFits: true,
      };
    }
    if (limits.requestsPerMinute === 0 && limits.tokensPerMinute === 0) return { allowed: true };
    const window = Math.floor(now / RATE_WINDOW_MS);
    // The hash tag keeps both counters in one cluster slot, as a multi-key script needs.
    // Tagged by the key's id: both counters in one slot, and keys spread over a Redis Cluster.
    const base = `${this.prefix}:sy:rate:${hashTag(keyId)}:${window}`;
    const code = await this.consumeScript({ requests: `${base}:requests`, tokens: `${base}:tokens` }, [
      String(limits.requestsPerMinute),
      String(limits.tokensPerMinute),
      String(Math.max(0, Math.ceil(tokens))),
      String(RATE_WINDOW_MS * 2),
      String(requests),
    ]);
    if (code === 0) return { allowed: true };
    const limit = code === 1 ? 'requestsPerMinute' : 'tokensPerMinute';
    return { allowed: false, limit, max: limits[limit], retryAfterSec: retryAfterSeconds(now), neverFits: false };
  }
}
