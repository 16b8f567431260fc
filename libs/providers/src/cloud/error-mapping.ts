import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { ProviderError } from '../completion.js';
import { StoppedAttempt, type StopSignals } from './bounded-attempt.js';

/** Where a failure happened, for its message (ids only, never content), and the attempt's limit. */
export interface FailureContext {
  /** `provider "<name>", item <itemRef>`: see failurePrefix. */
  at: string;
  timeoutMs: number;
}

export function failurePrefix(provider: string, itemRef: string): string {
  return `provider "${provider}", item ${itemRef}`;
}

/**
 * What a failed attempt means for the project: a ProviderError whose `retryable` tells the queue whether
 * another attempt may succeed and whose `code` says why (REFUSAL_CODES in completion.ts are the codes that
 * mean "never send this item here again"). A ProviderError passes through unchanged.
 */
export function toProviderError(err: unknown, { at, timeoutMs }: FailureContext): ProviderError {
  if (err instanceof ProviderError) return err;
  if (err instanceof StoppedAttempt) {
    if (err.cause === 'timeout') return new ProviderError(`${at}: no answer within ${timeoutMs} ms`, true, 'timeout');
    // Stopped by close(): the work is fine, this process is going away, so another attempt may run it.
    if (err.cause === 'closed') return new ProviderError(`${at}: provider closed mid-request`, true, 'aborted');
    return new ProviderError(`${at}: aborted by the caller`, false, 'aborted');
  }
  if (err instanceof APIConnectionTimeoutError) {
    return new ProviderError(`${at}: no answer within ${timeoutMs} ms`, true, 'timeout');
  }
  if (err instanceof APIConnectionError) return new ProviderError(`${at}: connection failed`, true, 'connection');
  if (err instanceof APIError && err.status !== undefined) return httpError(err, err.status, at);
  if (err instanceof APIError) {
    // An error event inside an SSE stream: the server gave up mid-answer.
    return new ProviderError(`${at}: the server reported an error mid-stream`, true, 'server_error');
  }
  // Anything else thrown while reading the answer: a socket closed mid-body ("terminated"),
  // a body cut short so its JSON does not parse.
  const name = err instanceof Error ? err.name : typeof err;
  return new ProviderError(`${at}: the answer was cut off (${name})`, true, 'connection');
}

/** The error for a completion stopped between attempts: by its caller (final), or by close() (retryable). */
export function stoppedError(stops: StopSignals, at: string): ProviderError | undefined {
  if (stops.caller?.aborted) return new ProviderError(`${at}: aborted by the caller`, false, 'aborted');
  if (stops.closing.aborted) return new ProviderError(`${at}: provider is closed`, true, 'aborted');
  return undefined;
}

export function throwIfStopped(stops: StopSignals, at: string): void {
  const stopped = stoppedError(stops, at);
  if (stopped) throw stopped;
}

function httpError(err: APIError, status: number, at: string): ProviderError {
  // Status and the error's type/code only: some servers echo request fields (prompt text) in
  // their error messages, e.g. validation errors from vLLM's FastAPI layer.
  const detail = [errorField(err, 'type'), errorField(err, 'code')].filter(Boolean).join(', ');
  const message = `${at}: HTTP ${status}${detail ? ` (${detail})` : ''}`;
  // Flex's "resource unavailable" is not a quota to wait out: the tier has no capacity now, and the item is
  // better served elsewhere at once (issue 16 §3). Not retried here; the worker opens that tier's circuit.
  if (status === 429 && isResourceUnavailable(err)) return new ProviderError(message, false, 'tier_unavailable');
  if (status === 429) return new ProviderError(message, true, 'rate_limited');
  if (status === 408) return new ProviderError(message, true, 'timeout');
  // A conflict (a concurrent request on the same resource) passes: the same request may succeed again.
  if (status === 409) return new ProviderError(message, true, 'conflict');
  if (status >= 500) return new ProviderError(message, true, 'server_error');
  return new ProviderError(message, false, clientErrorCode(err, status));
}

/** OpenAI's flex answer when it has no capacity: a 429 whose type, code or message says "resource unavailable". */
function isResourceUnavailable(err: APIError): boolean {
  const said = [errorField(err, 'type'), errorField(err, 'code'), err.message];
  return said.some((v) => v !== undefined && /resource[ _]unavailable/i.test(v));
}

function errorField(err: APIError, field: 'type' | 'code'): string | undefined {
  const value = field === 'code' ? err.code : err.type;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * What a prompt over the served model's context says in its message where its type and code do not: vLLM answers
 * `{type: "BadRequestError", code: 400}` with "This model's maximum context length is 4096 tokens. However, you
 * requested …" (and "… is longer than the maximum model length of …"), as OpenAI's own message reads.
 */
const CONTEXT_MESSAGE =
  /maximum context length|longer than the maximum model length|exceeds? the (?:model's )?context/i;

/**
 * A 4xx by what it says about the request. A prompt over the served model's context is told apart from
 * other refusals by the error's type or code, as OpenAI (`context_length_exceeded`) and llama.cpp's server
 * (`exceed_context_size_error`) word it, or by vLLM's message: the item may still fit a provider with a larger
 * context.
 */
function clientErrorCode(err: APIError, status: number): string {
  if (status === 401 || status === 403) return 'unauthorized';
  // The provider's account, not the request: OpenRouter and Together answer 402 when its credits are spent.
  if (status === 402) return 'payment_required';
  if (status === 404) return 'not_found';
  if (status === 413) return 'too_large';
  const mentionsContext = [errorField(err, 'type'), errorField(err, 'code')].some(
    (v) => v !== undefined && /context/i.test(v),
  );
  if (mentionsContext || CONTEXT_MESSAGE.test(err.message)) return 'context_exceeded';
  if (status === 400 || status === 422) return 'bad_request';
  return 'client_error';
}
