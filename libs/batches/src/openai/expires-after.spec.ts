import { describe, expect, it } from '@jest/globals';
import { parseExpiresAfter } from './expires-after.js';

describe('parseExpiresAfter', () => {
  it('takes OpenAI’s policy, seconds as a number or as multipart text, and nothing as no policy', () => {
    expect(parseExpiresAfter({ anchor: 'created_at', seconds: 3600 })).toEqual({ ok: true, ms: 3_600_000 });
    expect(parseExpiresAfter({ anchor: 'created_at', seconds: '2592000' })).toEqual({ ok: true, ms: 2_592_000_000 });
    expect(parseExpiresAfter(undefined)).toEqual({ ok: true, ms: null });
  });

  it('names the field at fault', () => {
    const param = (raw: unknown) => {
      const p = parseExpiresAfter(raw);
      return p.ok ? null : p.param;
    };
    expect(param('3600')).toBe('expires_after');
    expect(param([3600])).toBe('expires_after');
    expect(param({ anchor: 'last_active_at', seconds: 3600 })).toBe('expires_after.anchor');
    expect(param({ seconds: 3600 })).toBe('expires_after.anchor');
    for (const seconds of [3599, 2_592_001, 3600.5, '1h', '', -3600, undefined])
      expect(param({ anchor: 'created_at', seconds })).toBe('expires_after.seconds');
    expect(param({ anchor: 'created_at', seconds: 3600, days: 1 })).toBe('expires_after.days');
  });
});
