import { describe, expect, it } from '@jest/globals';
import { effectiveLimits, retryAfterSeconds } from './key-rate-limiter.js';
import { submittedTokens } from './submitted-tokens.js';

describe('per-key rate limits', () => {
  it('takes the key’s own limits over the defaults, field by field (0 stays unlimited)', () => {
    const defaults = { requestsPerMinute: 600, tokensPerMinute: 1000 };
    expect(effectiveLimits(defaults, {})).toEqual(defaults);
    expect(effectiveLimits(defaults, { requestsPerMinute: 3 })).toEqual({
      requestsPerMinute: 3,
      tokensPerMinute: 1000,
    });
    expect(effectiveLimits(defaults, { tokensPerMinute: 0 })).toEqual({ requestsPerMinute: 600, tokensPerMinute: 0 });
  });

  it('says to retry when the current minute window ends, never "now"', () => {
    const minute = Date.parse('2026-11-23T10:00:00Z');
    expect(retryAfterSeconds(minute)).toBe(60);
    expect(retryAfterSeconds(minute + 59_500)).toBe(1);
    expect(retryAfterSeconds(minute + 59_999)).toBe(1);
    expect(retryAfterSeconds(minute + 30_200)).toBe(30);
  });

  it('counts the tokens of documents and code items as the router estimates them, prompt included', () => {
    const task = { type: 'summarize' };
    const bare = submittedTokens({ task, items: [{ id: 'a', text: '' }] });
    expect(
      submittedTokens({
        task,
        items: [
          { id: 'a', text: 'x'.repeat(400) },
          { id: 'b', text: 'y'.repeat(40) },
        ],
      }),
    ).toBe(2 * bare + 110);
    expect(submittedTokens({ items: 'nope' })).toBe(0);
    expect(submittedTokens({ source: { repo: '/srv/app' } })).toBe(0);
    expect(submittedTokens(null)).toBe(0);
  });
});
