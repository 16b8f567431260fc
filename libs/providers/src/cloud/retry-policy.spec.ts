import { describe, expect, it } from '@jest/globals';
import { APIError } from 'openai';
import { ProviderError } from '../completion.js';
import {
  backoffMs,
  BACKOFF_MAX_MS,
  MAX_RETRY_AFTER_MS,
  retryAfterFromHeaders,
  retryAfterOf,
  retryDecision,
} from './retry-policy.js';

const failure = (retryable: boolean, code = 'server_error') => new ProviderError('x', retryable, code);
const fixedJitter = () => 0.5;

describe('whether a failed attempt is tried again here', () => {
  it('retries a retryable failure after the backoff while retries remain', () => {
    const decision = retryDecision({ failure: failure(true), retriesMade: 0, maxRetries: 2, random: fixedJitter });
    expect(decision).toEqual({ kind: 'retry', afterMs: 375 });
  });

  it('gives up on a failure the same request cannot get past', () => {
    expect(retryDecision({ failure: failure(false, 'bad_request'), retriesMade: 0, maxRetries: 2 })).toEqual({
      kind: 'give_up',
      why: 'not_retryable',
    });
  });

  it('never retries an attempt stopped by close(), though the queue may: this process is going away', () => {
    expect(retryDecision({ failure: failure(true, 'aborted'), retriesMade: 0, maxRetries: 2 })).toEqual({
      kind: 'give_up',
      why: 'aborted',
    });
  });

  it('gives up once maxRetries retries were made', () => {
    const q = { failure: failure(true), maxRetries: 2 };
    expect(retryDecision({ ...q, retriesMade: 1 }).kind).toBe('retry');
    expect(retryDecision({ ...q, retriesMade: 2 })).toEqual({ kind: 'give_up', why: 'retries_spent' });
    expect(retryDecision({ ...q, maxRetries: 0, retriesMade: 0 })).toEqual({ kind: 'give_up', why: 'retries_spent' });
  });

  it('waits what the server asked for instead of the backoff, up to the limit; longer goes back to the queue', () => {
    const q = { failure: failure(true, 'rate_limited'), retriesMade: 0, maxRetries: 3 };
    expect(retryDecision({ ...q, retryAfterMs: 0 })).toEqual({ kind: 'retry', afterMs: 0 });
    expect(retryDecision({ ...q, retryAfterMs: MAX_RETRY_AFTER_MS })).toEqual({
      kind: 'retry',
      afterMs: MAX_RETRY_AFTER_MS,
    });
    expect(retryDecision({ ...q, retryAfterMs: MAX_RETRY_AFTER_MS + 1 })).toEqual({
      kind: 'give_up',
      why: 'retry_after_too_long',
    });
  });
});

describe('backoff', () => {
  it('doubles from 500 ms with equal jitter: half the step fixed, half random', () => {
    expect([0, 1, 2, 3].map((n) => backoffMs(n, () => 0))).toEqual([250, 500, 1_000, 2_000]);
    expect([0, 1, 2, 3].map((n) => backoffMs(n, () => 1))).toEqual([500, 1_000, 2_000, 4_000]);
  });

  it('stops growing at its ceiling', () => {
    expect(backoffMs(10, () => 1)).toBe(BACKOFF_MAX_MS);
    expect(backoffMs(10, () => 0)).toBe(BACKOFF_MAX_MS / 2);
  });
});

describe('the wait a server asks for', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const headers = (h: Record<string, string>) => new Headers(h);

  it("prefers OpenAI's Retry-After-Ms, then Retry-After in seconds", () => {
    expect(retryAfterFromHeaders(headers({ 'retry-after-ms': '250', 'retry-after': '9' }), now)).toBe(250);
    expect(retryAfterFromHeaders(headers({ 'retry-after': '1.5' }), now)).toBe(1_500);
  });

  it('reads Retry-After as an HTTP date, and a date in the past as no wait', () => {
    expect(retryAfterFromHeaders(headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }), now)).toBe(30_000);
    expect(retryAfterFromHeaders(headers({ 'retry-after': 'Wed, 31 Dec 2025 23:00:00 GMT' }), now)).toBe(0);
  });

  it('is no wait at all when there is no header or it does not parse', () => {
    expect(retryAfterFromHeaders(undefined, now)).toBeUndefined();
    expect(retryAfterFromHeaders(headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(retryAfterFromHeaders(headers({ 'retry-after-ms': '-5' }), now)).toBeUndefined();
  });

  it('is read from an HTTP error only', () => {
    const limited = APIError.generate(429, { error: {} }, undefined, headers({ 'retry-after': '2' }));
    expect(retryAfterOf(limited)).toBe(2_000);
    expect(retryAfterOf(new Error('retry-after: 2'))).toBeUndefined();
  });
});
