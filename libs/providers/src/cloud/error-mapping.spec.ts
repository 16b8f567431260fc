import { describe, expect, it } from '@jest/globals';
import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { isRefusal, ProviderError } from '../completion.js';
import { StoppedAttempt } from './bounded-attempt.js';
import { failurePrefix, stoppedError, toProviderError } from './error-mapping.js';

const at = failurePrefix('frontier', 'batch-1.4');
const ctx = { at, timeoutMs: 2_000 };

/** An HTTP error as the SDK builds it from a response: status, body `{ error: {...} }`, headers. */
const http = (status: number, error: Record<string, unknown> = {}) =>
  APIError.generate(status, { error }, undefined, new Headers());

describe('what an SDK or HTTP failure means for the queue', () => {
  it.each([
    [429, 'rate_limited', true],
    [408, 'timeout', true],
    [409, 'conflict', true],
    [500, 'server_error', true],
    [503, 'server_error', true],
    [401, 'unauthorized', false],
    [403, 'unauthorized', false],
    [402, 'payment_required', false],
    [404, 'not_found', false],
    [413, 'too_large', false],
    [400, 'bad_request', false],
    [422, 'bad_request', false],
    [418, 'client_error', false],
  ])('HTTP %i is %s, retryable: %s', (status, code, retryable) => {
    const err = toProviderError(http(status), ctx);
    expect(err).toMatchObject({ code, retryable, message: `${at}: HTTP ${status}` });
  });

  it('tells flex\'s 429 "resource unavailable" apart from a rate limit: the tier is out, not retried there', () => {
    const err = toProviderError(http(429, { type: 'resource_unavailable', message: 'Resource unavailable' }), ctx);
    expect(err).toMatchObject({ code: 'tier_unavailable', retryable: false });
    expect(isRefusal(err)).toBe(false);
    expect(toProviderError(http(429, { message: 'Rate limit reached' }), ctx).code).toBe('rate_limited');
  });

  it('counts as a refusal (never sent there again) only what the request itself caused', () => {
    const refused = [400, 413, 418, 422].map((s) => toProviderError(http(s), ctx));
    const notRefused = [401, 402, 403, 404, 408, 409, 429, 500].map((s) => toProviderError(http(s), ctx));
    expect(refused.every(isRefusal)).toBe(true);
    expect(notRefused.some(isRefusal)).toBe(false);
  });

  it.each([
    ['llama.cpp server', { type: 'exceed_context_size_error' }],
    ['OpenAI', { type: 'invalid_request_error', code: 'context_length_exceeded' }],
    [
      'vLLM (type and code say nothing)',
      {
        type: 'BadRequestError',
        code: 400,
        message:
          "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4900 in the messages, 100 in the completion).",
      },
    ],
    [
      'vLLM, a prompt alone too long',
      {
        type: 'BadRequestError',
        message: 'The prompt (total length 9000) is longer than the maximum model length of 8192.',
      },
    ],
  ])('tells a prompt over the served context apart, as %s words it', (_, error) => {
    const err = toProviderError(http(400, error), ctx);
    expect(err).toMatchObject({ code: 'context_exceeded', retryable: false });
    expect(isRefusal(err)).toBe(true);
  });

  it("names the error type and code in the message but never the server's text, which may echo the prompt", () => {
    const err = toProviderError(
      http(422, { type: 'invalid_request_error', code: 'bad_field', message: 'field prompt="the secret memo"' }),
      ctx,
    );
    expect(err.message).toBe(`${at}: HTTP 422 (invalid_request_error, bad_field)`);
    expect(err.message).not.toContain('secret memo');
  });

  it('reads a connection failure as retryable, and a timeout before the headers as a timeout', () => {
    expect(toProviderError(new APIConnectionError({ message: 'ECONNREFUSED' }), ctx)).toMatchObject({
      code: 'connection',
      retryable: true,
    });
    expect(toProviderError(new APIConnectionTimeoutError(), ctx)).toMatchObject({
      code: 'timeout',
      retryable: true,
      message: `${at}: no answer within 2000 ms`,
    });
  });

  it('reads an error event inside a stream (an APIError without status) as the server giving up', () => {
    const err = toProviderError(new APIError(undefined, { message: 'overloaded' }, undefined, undefined), ctx);
    expect(err).toMatchObject({ code: 'server_error', retryable: true });
  });

  it('reads anything else thrown while reading the answer as a cut-off answer, worth another attempt', () => {
    expect(toProviderError(new TypeError('terminated'), ctx)).toMatchObject({
      code: 'connection',
      retryable: true,
      message: `${at}: the answer was cut off (TypeError)`,
    });
  });

  it('tells the three ways this process stops an attempt apart', () => {
    expect(toProviderError(new StoppedAttempt('timeout'), ctx)).toMatchObject({ code: 'timeout', retryable: true });
    // close(): this process is going away; another one may run the item.
    expect(toProviderError(new StoppedAttempt('closed'), ctx)).toMatchObject({ code: 'aborted', retryable: true });
    // The caller gave up on the item: nobody wants it run again.
    expect(toProviderError(new StoppedAttempt('aborted'), ctx)).toMatchObject({ code: 'aborted', retryable: false });
  });

  it('passes a ProviderError through as it is', () => {
    const own = new ProviderError('audit down', true, 'audit_unavailable');
    expect(toProviderError(own, ctx)).toBe(own);
  });
});

describe('a completion stopped between attempts', () => {
  it('is final when its caller aborted, retryable when the provider closed, and not stopped otherwise', () => {
    const caller = new AbortController();
    const closing = new AbortController();
    expect(stoppedError({ caller: caller.signal, closing: closing.signal }, at)).toBeUndefined();
    closing.abort();
    expect(stoppedError({ closing: closing.signal }, at)).toMatchObject({ code: 'aborted', retryable: true });
    caller.abort();
    expect(stoppedError({ caller: caller.signal, closing: closing.signal }, at)).toMatchObject({
      code: 'aborted',
      retryable: false,
    });
  });
});
