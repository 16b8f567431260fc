import type { Redis } from 'ioredis';

/**
 * Tokens per minute per provider, shared by every worker: a fixed one-minute window counted in Redis.
 * take() either books the tokens or says how long until the window rolls over. (Requests per minute
 * are BullMQ's own limiter on the provider's queue.)
 */
const TAKE_LUA = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local n, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if used > 0 and used + n > limit then return redis.call('PTTL', KEYS[1]) end
redis.call('INCRBY', KEYS[1], n)
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 0
`;

export class TokenRateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly windowMs = 60_000,
  ) {
    redis.defineCommand('syTakeTokens', { numberOfKeys: 1, lua: TAKE_LUA });
  }

  /** 0 when `tokens` were booked; otherwise milliseconds to wait. A single request larger than the limit is let through alone. */
  async take(provider: string, tokens: number, perMinute: number): Promise<number> {
    const wait = await (
      this.redis as unknown as { syTakeTokens(k: string, ...a: (string | number)[]): Promise<number> }
    ).syTakeTokens(`${this.prefix}:sy:tpm:${provider}`, Math.ceil(tokens), perMinute, this.windowMs);
    return Math.max(0, Number(wait));
  }
}
