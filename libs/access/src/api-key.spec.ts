import { describe, expect, it } from '@jest/globals';
import {
  allows,
  hashSecret,
  keyStatus,
  newSecret,
  sameHash,
  tenantScope,
  toKeyView,
  type ApiKeyRecord,
  type Caller,
} from './api-key.js';

const NOW = Date.parse('2026-11-23T00:00:00Z');
const caller = (scopes: Caller['scopes']): Caller => ({
  keyId: 'key_1',
  name: 'ci',
  scopes,
  tenant: 'acme',
  limits: {},
});

describe('API keys', () => {
  it('mints secrets with 256 random bits, and stores only a hash that does not contain them', () => {
    const a = newSecret();
    const b = newSecret();
    expect(a).not.toBe(b);
    expect(a).toMatch(/^sy_[A-Za-z0-9_-]{43}$/);
    expect(hashSecret(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashSecret(a)).not.toContain(a.slice(3));
    expect(sameHash(hashSecret(a), hashSecret(a))).toBe(true);
    expect(sameHash(hashSecret(a), hashSecret(b))).toBe(false);
  });

  it('lets a scope do what it names, and admin do everything; public needs nothing', () => {
    expect(allows(['read'], 'read')).toBe(true);
    expect(allows(['read'], 'submit')).toBe(false);
    expect(allows(['submit'], 'admin')).toBe(false);
    expect(allows(['submit', 'read'], 'admin')).toBe(false);
    expect(allows(['admin'], 'submit')).toBe(true);
    expect(allows([], 'public')).toBe(true);
  });

  it('is revoked once revoked, expired at its expiry, active otherwise', () => {
    expect(keyStatus({ expiresAt: null, revokedAt: null }, NOW)).toBe('active');
    expect(keyStatus({ expiresAt: NOW + 1, revokedAt: null }, NOW)).toBe('active');
    expect(keyStatus({ expiresAt: NOW, revokedAt: null }, NOW)).toBe('expired');
    expect(keyStatus({ expiresAt: NOW + 1000, revokedAt: NOW - 1 }, NOW)).toBe('revoked');
  });

  it('confines a non-admin key to its tenant; admin and open mode see every tenant', () => {
    expect(tenantScope(caller(['read', 'submit']))).toBe('acme');
    expect(tenantScope(caller(['admin']))).toBeUndefined();
    expect(tenantScope(null)).toBeUndefined();
  });

  it('shows a key without its hash', () => {
    const record: ApiKeyRecord = {
      id: 'key_1',
      name: 'ci',
      scopes: ['read'],
      tenant: 'key_1',
      createdAt: NOW,
      expiresAt: null,
      revokedAt: null,
      limits: {},
      hash: 'ab'.repeat(32),
    };
    const view = toKeyView(record, NOW);
    expect(view).toEqual({
      id: 'key_1',
      name: 'ci',
      scopes: ['read'],
      tenant: 'key_1',
      createdAt: '2026-11-23T00:00:00.000Z',
      expiresAt: null,
      revokedAt: null,
      limits: {},
      status: 'active',
    });
    expect(JSON.stringify(view)).not.toContain('abab');
  });
});
