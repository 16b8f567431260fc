import { APIError } from 'openai';
import type { ProviderError } from '../completion.js';

/** First backoff step and ceiling; each retry doubles the step, then jitter spreads callers out. */
export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 8_000;
/**
 * A Retry-After longer than this is not slept through: the error goes back to the queue, whose
 * delayed retry frees the worker slot instead of holding it idle.
 */
export const MAX_RETRY_AFTER_MS = 60_000;

export type RetryDecision =
  | { kind: 'retry'; afterMs: number }
  | { kind: 'give_up'; why: 'not_retryable' | 'aborted' | 'retries_spent' | 'retry_after_too_long' };

export interface RetryQuestion {
  failure: ProviderError;
  /** Retries already made: 0 after the first attempt failed. */
  retriesMade: number;
  maxRetries: number;
  /** The wait the server asked for (retryAfterOf), if it asked. */
  retryAfterMs?: number;
  /** Jitter's source; Math.random unless a test pins it. */
  random?: () => number;
}

/**
 * Whether a failed attempt is tried again here, and after how long. An aborted attempt is never retried
 * here, even when retryable: close() means this process is going away, and the queue runs it elsewhere.
 */
export function retryDecision(q: RetryQuestion): RetryDecision {
  if (!q.failure.retryable) return { kind: 'give_up', why: 'not_retryable' };
  if (q.failure.code === 'aborted') return { kind: 'give_up', why: 'aborted' };
  if (q.retriesMade >= q.maxRetries) return { kind: 'give_up', why: 'retries_spent' };
  if (q.retryAfterMs !== undefined && q.retryAfterMs > MAX_RETRY_AFTER_MS) {
    return { kind: 'give_up', why: 'retry_after_too_long' };
  }
  return { kind: 'retry', afterMs: q.retryAfterMs ?? backoffMs(q.retriesMade, q.random) };
}

/** Exponential backoff with "equal jitter": half the step is fixed, half is random. */
export function backoffMs(retriesMade: number, random: () => number = Math.random): number {
  const step = Math.min(BACKOFF_BASE_MS * 2 ** retriesMade, BACKOFF_MAX_MS);
  return step / 2 + random() * (step / 2);
}

/** The wait an HTTP error's headers ask for; undefined for anything else. */
export function retryAfterOf(err: unknown, now: number = Date.now()): number | undefined {
  return err instanceof APIError ? retryAfterFromHeaders(err.headers, now) : undefined;
}

/** Retry-After-Ms (OpenAI's own) or Retry-After, in seconds or as an HTTP date. */
export function retryAfterFromHeaders(headers: Headers | undefined, now: number = Date.now()): number | undefined {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number.parseFloat(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
