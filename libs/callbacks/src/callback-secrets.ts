import { randomBytes } from 'node:crypto';
import { globalKeyPrefix, type RedisClient } from '#libs/redis';

/** Field of batches created without a key (open mode): they share one secret. */
const OPEN_MODE = '-';

/**
 * One signing secret per tenant (all of a tenant's keys and batches share it), kept in one Redis hash.
 * Per tenant rather than per key: a receiver serves a tenant's batches whichever of its keys submitted
 * them, and a key can be revoked without its batches' callbacks becoming unverifiable. Created on first
 * use; GET /v1/callbacks/secret shows it to the tenant, POST …/rotate replaces it.
 */
export class CallbackSecrets {
  private readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.key = `${globalKeyPrefix(prefix)}:callback-secrets`;
  }

  /** The tenant's secret, created now if it has none (HSETNX: two first readers get the same one). */
  async get(tenant: string | null): Promise<string> {
    const field = tenant ?? OPEN_MODE;
    await this.redis.hsetnx(this.key, field, newSecret());
    return (await this.redis.hget(this.key, field))!;
  }

  /** Replaces the tenant's secret: deliveries from now on, retries included, are signed with the new one. */
  async rotate(tenant: string | null): Promise<string> {
    const secret = newSecret();
    await this.redis.hset(this.key, tenant ?? OPEN_MODE, secret);
    return secret;
  }
}

function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}
