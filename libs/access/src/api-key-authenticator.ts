import { hashSecret, keyStatus, sameHash, SCOPES, type Caller } from './api-key.js';
import type { ApiKeyStore } from './api-key-store.js';

export type AuthOutcome =
  /** No key exists and none was given at boot: the API serves everyone (it listens on loopback only). */
  | { mode: 'open' }
  | { mode: 'key'; caller: Caller }
  | { mode: 'denied'; reason: 'missing' | 'malformed' | 'unknown' | 'expired' | 'revoked' };

/** The caller behind ADMIN_API_KEY: not stored, so it survives a lost or flushed key store. */
export const BOOTSTRAP_ADMIN_ID = 'bootstrap-admin';

/**
 * Turns an Authorization header into a caller. The mode is read from the key store per request, so the
 * first key created at run time secures every replica at once. Once secured it never goes back to open
 * (revoking every key locks the API, it does not open it): the answer is sticky per process, and api-process.ts
 * asks isSecured() before listening, so a process that booted secured — and so may listen beyond
 * loopback — never serves open, even if the key store were flushed.
 */
export class ApiKeyAuthenticator {
  private readonly bootstrapHash: string | null;
  private secured: boolean;

  constructor(
    private readonly store: ApiKeyStore,
    bootstrapAdminSecret: string | null,
  ) {
    this.bootstrapHash = bootstrapAdminSecret ? hashSecret(bootstrapAdminSecret) : null;
    this.secured = this.bootstrapHash !== null;
  }

  async authenticate(authorization: string | undefined, now = Date.now()): Promise<AuthOutcome> {
    // Open (no key exists anywhere, loopback only): whatever a client sends is no key of this API, and the
    // official openai SDKs always send one (`apiKey` is required), so it is not refused.
    if (!(await this.isSecured())) return { mode: 'open' };
    if (authorization === undefined || authorization.trim() === '') return { mode: 'denied', reason: 'missing' };
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization.trim());
    if (!match) return { mode: 'denied', reason: 'malformed' };
    const secret = match[1];
    if (this.bootstrapHash !== null && sameHash(hashSecret(secret), this.bootstrapHash)) {
      return {
        mode: 'key',
        caller: {
          keyId: BOOTSTRAP_ADMIN_ID,
          name: 'ADMIN_API_KEY',
          scopes: [...SCOPES],
          tenant: BOOTSTRAP_ADMIN_ID,
          limits: {},
        },
      };
    }
    const record = await this.store.findBySecret(secret);
    if (!record) return { mode: 'denied', reason: 'unknown' };
    const status = keyStatus(record, now);
    if (status !== 'active') return { mode: 'denied', reason: status };
    return {
      mode: 'key',
      caller: {
        keyId: record.id,
        name: record.name,
        scopes: record.scopes,
        tenant: record.tenant,
        limits: record.limits,
      },
    };
  }

  /** Sticky: once a key exists the answer is cached, so secured requests cost no extra round trip. */
  async isSecured(): Promise<boolean> {
    if (!this.secured) this.secured = await this.store.anyKeyCreated();
    return this.secured;
  }
}
