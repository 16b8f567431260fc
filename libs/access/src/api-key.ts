import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * What a key may do. `admin` includes the others: an operator who can mint keys can do anything. `metrics`
 * reads GET /metrics and nothing else, so the key a Prometheus server holds can neither read batches nor submit.
 */
export const SCOPES = ['submit', 'read', 'metrics', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** Per-key overrides of the RATE_LIMIT_* defaults; absent fields take the default, 0 means unlimited. */
export interface KeyLimits {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}

/** A key as stored: the SHA-256 of its secret, never the secret itself. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  scopes: Scope[];
  /** Whose batches the key creates and sees; defaults to the key's own id. */
  tenant: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  limits: KeyLimits;
  /** Hex SHA-256 of the secret. */
  hash: string;
}

/** A key as the API and CLI show it: no hash, no secret, dates as ISO strings. */
export interface ApiKeyView {
  id: string;
  name: string;
  scopes: Scope[];
  tenant: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  limits: KeyLimits;
  status: 'active' | 'expired' | 'revoked';
}

/** Who is calling, once a key has been accepted. */
export interface Caller {
  keyId: string;
  name: string;
  scopes: Scope[];
  tenant: string;
  limits: KeyLimits;
}

/** The route's requirement: a scope, or `public` for /health and /ready. */
export type Requirement = Scope | 'public';

/** Secrets carry 256 random bits, so a fast hash (SHA-256) is enough: there is nothing to brute-force. */
export function newSecret(): string {
  return `sy_${randomBytes(32).toString('base64url')}`;
}

export function newKeyId(): string {
  return `key_${randomBytes(8).toString('hex')}`;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex digests of equal length. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

export function keyStatus(key: Pick<ApiKeyRecord, 'expiresAt' | 'revokedAt'>, now: number): ApiKeyView['status'] {
  if (key.revokedAt !== null) return 'revoked';
  if (key.expiresAt !== null && key.expiresAt <= now) return 'expired';
  return 'active';
}

export function allows(scopes: readonly Scope[], required: Requirement): boolean {
  return required === 'public' || scopes.includes('admin') || scopes.includes(required);
}

/** Admin keys see every tenant's batches; every other key only its own tenant's. */
export function tenantScope(caller: Caller | null): string | undefined {
  return caller === null || caller.scopes.includes('admin') ? undefined : caller.tenant;
}

export function toKeyView(key: ApiKeyRecord, now: number): ApiKeyView {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    id: key.id,
    name: key.name,
    scopes: key.scopes,
    tenant: key.tenant,
    createdAt: new Date(key.createdAt).toISOString(),
    expiresAt: iso(key.expiresAt),
    revokedAt: iso(key.revokedAt),
    limits: key.limits,
    status: keyStatus(key, now),
  };
}
