import { describe, expect, it } from '@jest/globals';
import { APIError } from 'openai';
import { ProviderError } from '../completion.js';
import { failurePrefix, toProviderError } from './error-mapping.js';
import { withRetries } from './retry-loop.js';

const at = failurePrefix('frontier', 'batch-1.4');
const failureOf = (err: unknown) => toProviderError(err, { at, timeoutMs: 1_000 });
/** A 503 that asks for no wait, so a test retries at once instead of sleeping through backoff. */
const unavailable = () => APIError.generate(503, { error: {} }, undefined, new Headers({ 'retry-after-ms': '0' }));

/** An attempt function that fails with `failures` in turn, then answers 'ok'; it keeps the attempt numbers. */
function scripted(...failures: unknown[]) {
  const seen: number[] = [];
  const attempt = async (n: number) => {
    seen.push(n);
    const next = failures.shift();
    if (next !== undefined) throw next;
    return 'ok';
  };
  return { attempt, seen };
}

describe('the retry loop', () => {
  it('tries again after a retryable failure and returns the answer, numbering attempts from 1', async () => {
    const { attempt, seen } = scripted(unavailable(), unavailable());
    const closing = new AbortController();
    const result = await withRetries({ maxRetries: 2, stops: { closing: closing.signal }, at, attempt, failureOf });
    expect(result).toBe('ok');
    expect(seen).toEqual([1, 2, 3]);
  });

  it('throws the last failure, mapped, once retries are spent', async () => {
    const { attempt, seen } = scripted(unavailable(), unavailable(), unavailable());
    const closing = new AbortController();
    const run = withRetries({ maxRetries: 1, stops: { closing: closing.signal }, at, attempt, failureOf });
    await expect(run).rejects.toMatchObject({ code: 'server_error', retryable: true, message: `${at}: HTTP 503` });
    expect(seen).toEqual([1, 2]);
  });

  it('does not retry a failure that is not retryable', async () => {
    const { attempt, seen } = scripted(APIError.generate(400, { error: {} }, undefined, new Headers()));
    const closing = new AbortController();
    const run = withRetries({ maxRetries: 3, stops: { closing: closing.signal }, at, attempt, failureOf });
    await expect(run).rejects.toMatchObject({ code: 'bad_request' });
    expect(seen).toEqual([1]);
  });

  it('retries a ProviderError the attempt raised itself, such as an audit sink that is down', async () => {
    const { attempt, seen } = scripted(new ProviderError('audit down', true, 'audit_unavailable'));
    const closing = new AbortController();
    await withRetries({ maxRetries: 1, stops: { closing: closing.signal }, at, attempt, failureOf });
    expect(seen).toEqual([1, 2]);
  });

  it('starts no attempt once the caller has aborted', async () => {
    const { attempt, seen } = scripted();
    const caller = new AbortController();
    caller.abort();
    const stops = { caller: caller.signal, closing: new AbortController().signal };
    const run = withRetries({ maxRetries: 1, stops, at, attempt, failureOf });
    await expect(run).rejects.toMatchObject({ code: 'aborted', retryable: false });
    expect(seen).toEqual([]);
  });

  it('ends a long backoff as soon as the provider closes, without another attempt', async () => {
    const slow = APIError.generate(503, { error: {} }, undefined, new Headers({ 'retry-after': '30' }));
    const { attempt, seen } = scripted(slow);
    const closing = new AbortController();
    setTimeout(() => closing.abort(), 50);
    const started = Date.now();
    const run = withRetries({ maxRetries: 2, stops: { closing: closing.signal }, at, attempt, failureOf });
    await expect(run).rejects.toMatchObject({ code: 'aborted', retryable: true, message: `${at}: provider is closed` });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(seen).toEqual([1]);
  });
});
