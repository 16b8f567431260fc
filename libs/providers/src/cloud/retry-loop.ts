import { ProviderError } from '../completion.js';
import { waitUnlessStopped, type StopSignals } from './bounded-attempt.js';
import { throwIfStopped } from './error-mapping.js';
import { retryAfterOf, retryDecision } from './retry-policy.js';

export interface RetryLoopOptions<T> {
  maxRetries: number;
  stops: StopSignals;
  /** Names provider and item in the error of a completion stopped between attempts. */
  at: string;
  /** One attempt; `attempt` counts from 1. */
  attempt: (attempt: number) => Promise<T>;
  /** What a failed attempt means (toProviderError); the loop throws it once it gives up. */
  failureOf: (err: unknown) => ProviderError;
}

/** The failure with the wait its server asked for, for the worker to act on (isLongRateLimit). */
function withRetryAfter(failure: ProviderError, retryAfterMs: number | undefined): ProviderError {
  if (retryAfterMs === undefined || failure.retryAfterMs !== undefined || failure.constructor !== ProviderError)
    return failure;
  return new ProviderError(failure.message, failure.retryable, failure.code, retryAfterMs);
}

/**
 * Runs attempts until one succeeds or retryDecision gives up, waiting out backoff or the server's
 * Retry-After in between. The caller's abort or close() ends a wait at once, and no attempt starts after
 * either.
 */
export async function withRetries<T>(opts: RetryLoopOptions<T>): Promise<T> {
  for (let retriesMade = 0; ; retriesMade++) {
    throwIfStopped(opts.stops, opts.at);
    let failure: ProviderError;
    let retryAfterMs: number | undefined;
    try {
      return await opts.attempt(retriesMade + 1);
    } catch (err) {
      failure = opts.failureOf(err);
      retryAfterMs = retryAfterOf(err);
    }
    const decision = retryDecision({ failure, retriesMade, maxRetries: opts.maxRetries, retryAfterMs });
    if (decision.kind === 'give_up') throw withRetryAfter(failure, retryAfterMs);
    await waitUnlessStopped(decision.afterMs, opts.stops);
    throwIfStopped(opts.stops, opts.at);
  }
}
