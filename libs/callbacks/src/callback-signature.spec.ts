import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { signatureHeader, verifySignature } from './callback-signature.js';

describe('callback signatures', () => {
  const secret = 'whsec_test';
  const body = '{"id":"evt.b.batch","type":"batch.finished"}';

  it('signs "<t>.<body>" with HMAC-SHA256, as a receiver recomputes it', () => {
    const expected = createHmac('sha256', secret).update(`1700000000.${body}`).digest('hex');
    expect(signatureHeader(secret, body, 1_700_000_000)).toBe(`t=1700000000,v1=${expected}`);
  });

  it('verifies its own signature within the tolerance', () => {
    const header = signatureHeader(secret, body, 1_700_000_000);
    expect(verifySignature({ secret, header, body, nowS: 1_700_000_100 })).toBe(true);
  });

  it('refuses another body, another secret, an old timestamp and a malformed header', () => {
    const header = signatureHeader(secret, body, 1_700_000_000);
    expect(verifySignature({ secret, header, body: body.replace('batch', 'item'), nowS: 1_700_000_000 })).toBe(false);
    expect(verifySignature({ secret: 'whsec_other', header, body, nowS: 1_700_000_000 })).toBe(false);
    expect(verifySignature({ secret, header, body, nowS: 1_700_000_301 })).toBe(false);
    expect(verifySignature({ secret, header: 't=1700000000,v1=zz', body, nowS: 1_700_000_000 })).toBe(false);
    expect(verifySignature({ secret, header: undefined, body, nowS: 1_700_000_000 })).toBe(false);
  });
});
