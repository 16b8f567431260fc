import { BOOTSTRAP_ADMIN_ID } from './api-key-authenticator.js';
import { keyStatus } from './api-key.js';
import type { ApiKeyStore } from './api-key-store.js';
import { effectiveLimits, type KeyRateLimiter, type RateLimits } from './key-rate-limiter.js';

export type OwnerKeyDecision = { allowed: true } | { allowed: false; reason: string };

/**
 * Admits work done later on a key's behalf (a schedule firing in the worker) as the API would admit the
 * same request from that key now: one request and its tokens taken from the same per-key limiter, so a
 * schedule cannot walk around the limits its key has (issue 13 §3). A key revoked or expired since, or
 * deleted, admits nothing. ADMIN_API_KEY is not stored: it has the defaults, as in the API.
 */
export function ownerKeyGate(keys: ApiKeyStore, limiter: KeyRateLimiter, defaults: RateLimits) {
  return async (keyId: string, tokens: number, now: number): Promise<OwnerKeyDecision> => {
    let own = {};
    if (keyId !== BOOTSTRAP_ADMIN_ID) {
      const record = await keys.get(keyId);
      if (!record) return { allowed: false, reason: `its owner key ${keyId} no longer exists` };
      const status = keyStatus(record, now);
      if (status !== 'active') return { allowed: false, reason: `its owner key ${keyId} is ${status}` };
      own = record.limits;
    }
    const decision = await limiter.consume(keyId, tokens, effectiveLimits(defaults, own), now);
    if (decision.allowed) return { allowed: true };
    const what = decision.limit === 'requestsPerMinute' ? 'requests' : 'submitted tokens';
    const size = decision.limit === 'tokensPerMinute' ? `about ${tokens} tokens; ` : '';
    return { allowed: false, reason: `over the owner key's limit: ${size}at most ${decision.max} ${what} per minute` };
  };
}
