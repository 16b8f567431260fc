import { describe, expect, it } from '@jest/globals';
import { redactedQuery, redactedUrl } from './redacted-url.js';

describe('what the HTTP spans keep of a URL', () => {
  it("keeps each query parameter's name and replaces every value", () => {
    expect(redactedQuery('?token=s3cret&cursor=abc&flag')).toBe('token=REDACTED&cursor=REDACTED&flag=REDACTED');
    expect(redactedQuery('a=1')).toBe('a=REDACTED');
    expect(redactedQuery('')).toBe('');
  });

  it('drops credentials and the fragment, and redacts the query', () => {
    expect(redactedUrl('https://user:pw@hooks.example.com:8443/cb/42?sig=abc&ts=1#frag')).toBe(
      'https://hooks.example.com:8443/cb/42?sig=REDACTED&ts=REDACTED',
    );
    expect(redactedUrl('http://127.0.0.1:4000/v1/chat/completions')).toBe('http://127.0.0.1:4000/v1/chat/completions');
  });

  it('keeps only the path of something that is not an absolute URL', () => {
    expect(redactedUrl('/v1/batches?key=s3cret')).toBe('/v1/batches');
  });
});
