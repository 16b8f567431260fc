import { describe, expect, it } from '@jest/globals';
import { hashSecret, type ApiKeyRecord } from './api-key.js';
import { ApiKeyAuthenticator } from './api-key-authenticator.js';
import type { ApiKeyStore } from './api-key-store.js';

const NOW = Date.parse('2026-11-23T00:00:00Z');

/** The two store reads the authenticator makes, over records in memory. */
function storeOf(records: Array<ApiKeyRecord & { secret: string }>): ApiKeyStore & { records: typeof records } {
  return {
    records,
    async findBySecret(secret: string) {
      return records.find((r) => r.hash === hashSecret(secret)) ?? null;
    },
    async anyKeyCreated() {
      return records.length > 0;
    },
  } as unknown as ApiKeyStore & { records: typeof records };
}

function key(secret: string, over: Partial<ApiKeyRecord> = {}): ApiKeyRecord & { secret: string } {
  return {
    id: `key_${secret}`,
    name: secret,
    scopes: ['read'],
    tenant: 'acme',
    createdAt: NOW - 1000,
    expiresAt: null,
    revokedAt: null,
    limits: {},
    hash: hashSecret(secret),
    secret,
    ...over,
  };
}

describe('ApiKeyAuthenticator', () => {
  it('is open while no key exists, and secured from the first key on, for good', async () => {
    const store = storeOf([]);
    const auth = new ApiKeyAuthenticator(store, null);
    expect(await auth.authenticate(undefined, NOW)).toEqual({ mode: 'open' });
    // A key sent while none exists (the openai SDK always sends its apiKey) is no key of this API: still open.
    expect(await auth.authenticate('Bearer sk-anything', NOW)).toEqual({ mode: 'open' });
    expect(await auth.authenticate('Basic Z29vZA==', NOW)).toEqual({ mode: 'open' });
    store.records.push(key('s1', { revokedAt: NOW - 1 }));
    expect(await auth.authenticate(undefined, NOW)).toEqual({ mode: 'denied', reason: 'missing' });
    expect(await auth.authenticate('Bearer sk-anything', NOW)).toEqual({ mode: 'denied', reason: 'unknown' });
    store.records.length = 0;
    expect(await auth.authenticate(undefined, NOW)).toEqual({ mode: 'denied', reason: 'missing' });
  });

  it('is secured by ADMIN_API_KEY alone, which is an admin of every scope', async () => {
    const auth = new ApiKeyAuthenticator(storeOf([]), 'bootstrap-secret-of-enough-length');
    expect(await auth.authenticate(undefined, NOW)).toEqual({ mode: 'denied', reason: 'missing' });
    expect(await auth.authenticate('Bearer bootstrap-secret-of-enough-length', NOW)).toMatchObject({
      mode: 'key',
      caller: { keyId: 'bootstrap-admin', scopes: ['submit', 'read', 'metrics', 'admin'] },
    });
  });

  it('accepts active keys, and names why it refuses the others', async () => {
    const auth = new ApiKeyAuthenticator(
      storeOf([key('good'), key('old', { expiresAt: NOW }), key('gone', { revokedAt: NOW - 5 })]),
      null,
    );
    expect(await auth.authenticate('Bearer good', NOW)).toEqual({
      mode: 'key',
      caller: { keyId: 'key_good', name: 'good', scopes: ['read'], tenant: 'acme', limits: {} },
    });
    expect(await auth.authenticate('bearer   good ', NOW)).toMatchObject({ mode: 'key' });
    expect(await auth.authenticate('Bearer old', NOW)).toEqual({ mode: 'denied', reason: 'expired' });
    expect(await auth.authenticate('Bearer gone', NOW)).toEqual({ mode: 'denied', reason: 'revoked' });
    expect(await auth.authenticate('Bearer nope', NOW)).toEqual({ mode: 'denied', reason: 'unknown' });
    expect(await auth.authenticate('Basic Z29vZA==', NOW)).toEqual({ mode: 'denied', reason: 'malformed' });
  });
});
