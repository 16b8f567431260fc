import { describe, expect, it } from '@jest/globals';
import { egressVerdict } from './egress-scan.js';

const body = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content }],
  max_tokens: 64,
  ...extra,
});

describe('egressVerdict', () => {
  it('raises a request above its marking by what it holds, naming the categories', () => {
    expect(egressVerdict('public', body('Card 4111 1111 1111 1111 at the end'), 'internal')).toEqual({
      sensitivity: 'confidential',
      found: ['card'],
    });
    expect(egressVerdict('public', body('Mail ana@example.org'), 'internal')).toEqual({
      sensitivity: 'internal',
      found: ['email'],
    });
  });

  it('keeps the marking where the request holds nothing above it, or is refused on the marking alone', () => {
    expect(egressVerdict('internal', body('Mail ana@example.org'), 'internal')).toEqual({
      sensitivity: 'internal',
      found: [],
    });
    expect(egressVerdict('restricted', body('4111 1111 1111 1111'), 'internal')).toEqual({
      sensitivity: 'restricted',
      found: [],
    });
    // Cleared for everything (an engine on premises): nothing to find that would refuse it, so nothing is read.
    expect(egressVerdict('public', body('4111 1111 1111 1111'), 'restricted')).toEqual({
      sensitivity: 'public',
      found: [],
    });
  });

  it('reads each string on its own, as the intake reads each field: digits split between two parts are no card', () => {
    expect(egressVerdict('public', body('4111 1111 1111', { stop: ['1111'] }), 'internal').found).toEqual([]);
    // Numbers as they leave, and any string of the body, are read: a card in a stop sequence.
    expect(egressVerdict('public', body('hello', { stop: ['4111111111111111'] }), 'internal').found).toEqual(['card']);
    expect(egressVerdict('public', body('hello', { seed: 4111111111111111 }), 'internal').found).toEqual(['card']);
  });
});
