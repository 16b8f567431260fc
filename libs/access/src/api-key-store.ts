import { defineScript, globalKeyPrefix, redisScript, type RedisClient } from '#libs/redis';
import { hashSecret, newKeyId, newSecret, toKeyView, type ApiKeyRecord, type ApiKeyView } from './api-key.js';
import type { NewKey } from './new-key.js';

/** KEYS[1] hash → id index, KEYS[2] id → record; ARGV[1] the presented secret's hash. One round trip per request. */
const FIND_BY_HASH_LUA = `
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
return redis.call('HGET', KEYS[2], id)
`;

const FIND_BY_HASH = redisScript<'byHash' | 'records', readonly [hash: string], string | null>({
  name: 'syFindApiKey',
  keys: ['byHash', 'records'],
  lua: FIND_BY_HASH_LUA,
});

/**
 * API keys in Redis, shared by every API replica and the CLI. Only the SHA-256 of a secret is stored;
 * the secret is returned once, by create(). Revoked and expired keys stay as records: they show in the
 * list, and their presence keeps the API in secured mode (see ApiKeyAuthenticator).
 */
export class ApiKeyStore {
  private readonly findScript;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    this.findScript = defineScript(redis, FIND_BY_HASH);
  }

  async create(input: NewKey, now = Date.now()): Promise<{ key: ApiKeyView; secret: string }> {
    const id = newKeyId();
    const secret = newSecret();
    const record: ApiKeyRecord = {
      id,
      name: input.name,
      scopes: input.scopes,
      tenant: input.tenant ?? id,
      createdAt: now,
      expiresAt: input.expiresAt,
      revokedAt: null,
      limits: input.limits,
      hash: hashSecret(secret),
    };
    await this.redis
      .multi()
      .hset(this.recordsKey(), id, JSON.stringify(record))
      .hset(this.byHashKey(), record.hash, id)
      .exec();
    return { key: toKeyView(record, now), secret };
  }

  async list(now = Date.now()): Promise<ApiKeyView[]> {
    const rows = Object.values(await this.redis.hgetall(this.recordsKey())).map((r) => JSON.parse(r) as ApiKeyRecord);
    return rows.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id)).map((r) => toKeyView(r, now));
  }

  /** Marks the key revoked (the first revocation time is kept). Null for an unknown id. */
  async revoke(id: string, now = Date.now()): Promise<ApiKeyView | null> {
    const raw = await this.redis.hget(this.recordsKey(), id);
    if (!raw) return null;
    const record = JSON.parse(raw) as ApiKeyRecord;
    if (record.revokedAt === null) {
      record.revokedAt = now;
      await this.redis.hset(this.recordsKey(), id, JSON.stringify(record));
    }
    return toKeyView(record, now);
  }

  /** The record of a key by its id, whatever its status; null for an unknown id. */
  async get(id: string): Promise<ApiKeyRecord | null> {
    const raw = await this.redis.hget(this.recordsKey(), id);
    return raw ? (JSON.parse(raw) as ApiKeyRecord) : null;
  }

  /** The record whose hash matches the presented secret, whatever its status; null when none does. */
  async findBySecret(secret: string): Promise<ApiKeyRecord | null> {
    const raw = await this.findScript({ byHash: this.byHashKey(), records: this.recordsKey() }, [hashSecret(secret)]);
    return raw ? (JSON.parse(raw) as ApiKeyRecord) : null;
  }

  /** Whether any key was ever created here (revoked and expired ones count). */
  async anyKeyCreated(): Promise<boolean> {
    return (await this.redis.hlen(this.recordsKey())) > 0;
  }

  // Global records, one slot on a Redis Cluster: create's MULTI and the lookup script span both.
  private recordsKey(): string {
    return `${globalKeyPrefix(this.prefix)}:apikeys`;
  }
  private byHashKey(): string {
    return `${globalKeyPrefix(this.prefix)}:apikeys:by-hash`;
  }
}
