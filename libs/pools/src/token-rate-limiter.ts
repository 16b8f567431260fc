import { defineScript, globalKeyPrefix, redisScript, type RedisClient } from '#libs/redis';

/**
 * KEYS[1] the provider's window counter; ARGV[1] tokens, ARGV[2] limit per window, ARGV[3] window (ms).
 * Returns 0 when booked, else the milliseconds until the window rolls over.
 */
const TAKE_LUA = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local n, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if used > 0 and used + n > limit then return redis.call('PTTL', KEYS[1]) end
redis.call('INCRBY', KEYS[1], n)
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 0
`;

const TAKE_TOKENS = redisScript<'window', readonly [tokens: string, limit: string, windowMs: string], number>({
  name: 'syTakeTokens',
  keys: ['window'],
  lua: TAKE_LUA,
});

/**
 * Tokens per minute per provider, shared by every worker: a fixed one-minute window counted in Redis.
 * take() either books the tokens or says how long until the window rolls over. (Requests per minute
 * are BullMQ's own limiter on the provider's queue.)
 */
export class TokenRateLimiter {
  private readonly takeScript;

  constructor(
    redis: RedisClient,
    private readonly prefix: string,
    private readonly windowMs = 60_000,
  ) {
    this.takeScript = defineScript(redis, TAKE_TOKENS);
  }

  /** 0 when `tokens` were booked; otherwise milliseconds to wait. A single request larger than the limit is let through alone. */
  async take(provider: string, tokens: number, perMinute: number): Promise<number> {
    const wait = await this.takeScript({ window: `${globalKeyPrefix(this.prefix)}:tpm:${provider}` }, [
      String(Math.ceil(tokens)),
      String(perMinute),
      String(this.windowMs),
    ]);
    return Math.max(0, Number(wait));
  }
}
