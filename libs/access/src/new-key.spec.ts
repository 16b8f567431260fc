import { describe, expect, it } from '@jest/globals';
import { checkNewKey } from './new-key.js';

const NOW = Date.parse('2026-11-23T00:00:00Z');

describe('checkNewKey', () => {
  it('accepts name, scopes, tenant, expiry with a zone and per-key limits', () => {
    expect(
      checkNewKey(
        {
          name: 'ci',
          scopes: ['submit', 'read', 'read'],
          tenant: 'acme',
          expiresAt: '2027-01-01T00:00:00Z',
          limits: { requestsPerMinute: 5 },
        },
        NOW,
      ),
    ).toEqual({
      ok: true,
      key: {
        name: 'ci',
        scopes: ['submit', 'read'],
        tenant: 'acme',
        expiresAt: Date.parse('2027-01-01T00:00:00Z'),
        limits: { requestsPerMinute: 5 },
      },
    });
    expect(checkNewKey({ name: 'ops', scopes: ['admin'] }, NOW)).toEqual({
      ok: true,
      key: { name: 'ops', scopes: ['admin'], tenant: undefined, expiresAt: null, limits: {} },
    });
  });

  it.each([
    [null, 'body'],
    [{ scopes: ['read'] }, 'name'],
    [{ name: 'ci', scopes: [] }, 'scopes'],
    [{ name: 'ci', scopes: ['write'] }, 'scopes[0]'],
    [{ name: 'ci', scopes: 'read' }, 'scopes'],
    [{ name: 'ci', scopes: ['read'], tenant: 'a/b' }, 'tenant'],
    [{ name: 'ci', scopes: ['read'], expiresAt: '2027-01-01T00:00:00' }, 'expiresAt'],
    [{ name: 'ci', scopes: ['read'], expiresAt: '2020-01-01T00:00:00Z' }, 'expiresAt'],
    [{ name: 'ci', scopes: ['read'], limits: { requestsPerMinute: -1 } }, 'limits.requestsPerMinute'],
    [{ name: 'ci', scopes: ['read'], limits: { burst: 3 } }, 'limits'],
  ])('names the wrong field of %j', (body, field) => {
    const r = checkNewKey(body, NOW);
    expect(r.ok ? null : r.errors[0].field).toBe(field);
  });

  it.each([
    ['2027-02-30T00:00:00Z', '2027-02-30 is not a date in the calendar'],
    ['2027-04-31T00:00:00Z', '2027-04-31 is not a date in the calendar'],
    ['2027-01-01T24:00:00Z', '24:00:00Z is not a time of day'],
  ])('refuses an expiresAt of %s rather than rolling it over to a later instant', (expiresAt, why) => {
    expect(checkNewKey({ name: 'ci', scopes: ['read'], expiresAt }, NOW)).toEqual({
      ok: false,
      errors: [{ field: 'expiresAt', message: expect.stringContaining(why) }],
    });
  });

  it('says which field of limits is not one it takes', () => {
    expect(checkNewKey({ name: 'ci', scopes: ['read'], limits: { foo: 1 } }, NOW)).toEqual({
      ok: false,
      errors: [{ field: 'limits', message: 'has no field "foo": it takes requestsPerMinute and tokensPerMinute' }],
    });
  });
});
