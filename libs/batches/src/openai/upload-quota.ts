import { defineScript, redisScript, type RedisClient, type ScriptCall } from '#libs/redis';
import type { OpenAIKeys } from './openai-keys.js';

/** Most expired uploads one reserve() lets go of: the rest go at the next call, so no call runs long. */
const EXPIRED_PER_CALL = 1000;

/**
 * KEYS: held (bytes the tenant's live uploads hold), expiries (ZSET: upload id → when it expires, ms; +inf for
 * never), sizes (HASH: upload id → its bytes). ARGV: now (ms), id, bytes, expiresAt (ms or +inf), limit.
 * Lets go of what has expired by now (Redis expired the uploads themselves), then holds `bytes` for `id` if the
 * total stays within `limit`. Returns {1, held after} or {0, held}.
 */
const RESERVE = redisScript<'held' | 'expiries' | 'sizes', [string, string, string, string, string], [number, number]>({
  name: 'switchyardUploadQuotaReserve',
  keys: ['held', 'expiries', 'sizes'],
  lua: `
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ${EXPIRED_PER_CALL})
for _, id in ipairs(expired) do
  local size = redis.call('HGET', KEYS[3], id)
  if size then
    redis.call('DECRBY', KEYS[1], size)
    redis.call('HDEL', KEYS[3], id)
  end
  redis.call('ZREM', KEYS[2], id)
end
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
if held + tonumber(ARGV[3]) > tonumber(ARGV[5]) then return {0, held} end
redis.call('INCRBY', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
return {1, held + tonumber(ARGV[3])}
`,
});

/** KEYS as RESERVE's; ARGV: id. Lets go of what `id` held; 1 if it held anything. */
const RELEASE = redisScript<'held' | 'expiries' | 'sizes', [string], number>({
  name: 'switchyardUploadQuotaRelease',
  keys: ['held', 'expiries', 'sizes'],
  lua: `
local size = redis.call('HGET', KEYS[3], ARGV[1])
if not size then return 0 end
redis.call('DECRBY', KEYS[1], size)
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`,
});

/** What reserve() decided. */
export type QuotaReservation = { ok: true } | { ok: false; heldBytes: number };

/**
 * The bytes of uploads one tenant keeps at once (OPENAI_UPLOAD_QUOTA_BYTES), so that one key cannot fill Redis for
 * every tenant: an upload counted only as a request, a key allowed 600 a minute of up to 50 MiB each could write
 * 30 GB a minute into a Redis that evicts nothing (noeviction: every write then fails, for everyone). Keys without
 * a tenant (open mode, admin keys) share one allowance. An upload is held from its write until it is deleted or
 * expires (its expiry recorded beside its size, let go of at the next reserve after it).
 */
export class UploadQuota {
  private readonly reserveScript: ScriptCall<
    'held' | 'expiries' | 'sizes',
    [string, string, string, string, string],
    [number, number]
  >;
  private readonly releaseScript: ScriptCall<'held' | 'expiries' | 'sizes', [string], number>;

  constructor(
    redis: RedisClient,
    private readonly keys: OpenAIKeys,
    private readonly limitBytes: number,
  ) {
    this.reserveScript = defineScript(redis, RESERVE);
    this.releaseScript = defineScript(redis, RELEASE);
  }

  get limit(): number {
    return this.limitBytes;
  }

  /** Holds `bytes` for upload `id` of `tenant` until `expiresAt` (ms; null: until deleted), if the allowance has room. */
  async reserve(
    tenant: string | null,
    id: string,
    bytes: number,
    expiresAt: number | null,
    now = Date.now(),
  ): Promise<QuotaReservation> {
    const [ok, held] = await this.reserveScript(this.keys.uploadQuota(tenant), [
      String(now),
      id,
      String(bytes),
      expiresAt === null ? '+inf' : String(expiresAt),
      String(this.limitBytes),
    ]);
    return ok === 1 ? { ok: true } : { ok: false, heldBytes: held };
  }

  /** Lets go of what upload `id` held (deleted, or never written). */
  async release(tenant: string | null, id: string): Promise<void> {
    await this.releaseScript(this.keys.uploadQuota(tenant), [id]);
  }
}
