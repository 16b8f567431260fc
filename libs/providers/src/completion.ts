import type { TokenUsage } from '#libs/domain';
import type { ChatMessage, ChatResponseFormat, Sensitivity } from '#libs/domain';
import { MAX_RETRY_AFTER_MS } from './cloud/retry-policy.js';

/**
 * A chat item's own request (issue 16 §2): its messages and sampling, honoured as given. `system` and
 * `prompt` of the request then only count tokens; the messages are what is sent.
 */
export interface ChatCall {
  messages: ChatMessage[];
  temperature?: number;
  topP?: number;
  seed?: number;
  stop?: string[];
  /** Sent to a cloud provider as is; a local model follows a json_schema or json_object with a grammar. */
  responseFormat?: ChatResponseFormat;
}

/** One prompt for one item. Never log `system`, `prompt` or a result's `text`: they hold user data. */
export interface CompletionRequest {
  /** Stable id of the work item, for audit and error messages (not content). */
  itemRef: string;
  sensitivity: Sensitivity;
  system: string;
  prompt: string;
  maxTokens: number;
  signal?: AbortSignal;
  /**
   * The answer must be a JSON value matching this schema: local models enforce it with a grammar,
   * OpenAI-compatible APIs with response_format json_schema. The answer is validated either way.
   */
  jsonSchema?: Record<string, unknown>;
  /** A chat item: send these messages and parameters rather than system and prompt. */
  chat?: ChatCall;
}

export type { TokenUsage } from '#libs/domain';

export interface CompletionResult {
  text: string;
  usage: TokenUsage;
  /** Model that produced the text, as the engine or the API reported it. */
  model: string;
  finishReason: 'stop' | 'length';
  /** Cloud: how long the attempt that answered took, earlier attempts and their backoff left out. */
  attemptMs?: number;
  /**
   * Cloud: the server did not report (all of) the usage, so `usage` holds its bound, what the call could have been
   * billed at most, for the counts it left out (usageOf in cloud/chat-answer). Absent: the provider's own counts.
   */
  usageEstimated?: true;
}

/**
 * Error raised by a provider. `retryable` tells the queue whether another attempt may succeed; `retryAfterMs`, the
 * wait the server asked for (Retry-After) when it gave one.
 */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly code: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

/** The provider refused an item above its clearance: never retryable, never sent. */
export class ClearanceError extends ProviderError {
  /**
   * `sensitivity`: what the item is, as marked or as the request about to leave showed it (`found`: the personal
   * data categories the provider's own scan of that request found, never the values).
   */
  constructor(
    provider: string,
    clearance: Sensitivity,
    readonly sensitivity: Sensitivity,
    readonly found: readonly string[] = [],
  ) {
    super(
      found.length === 0
        ? `provider "${provider}" is cleared up to "${clearance}" and refuses an item marked "${sensitivity}"`
        : `provider "${provider}" is cleared up to "${clearance}" and refuses a request holding ${found.join(', ')}, ` +
            `which makes it "${sensitivity}"`,
      false,
      'clearance',
    );
    this.name = 'ClearanceError';
  }
}

/** Anything that turns a prompt into text: the local engine or an OpenAI-compatible API. */
export interface InferenceProvider {
  readonly name: string;
  /** Tokens one request may hold, prompt and answer (maxTokens) together: what "too long" means here. */
  readonly contextTokens: number;
  /** Tokens of a bare text: the model's tokenizer where this process has it, else an estimate. */
  countTokens(text: string): number;
  /** Tokens a request's prompt takes as sent: system and prompt with the chat format around them. */
  promptTokens(system: string, prompt: string): number;
  complete(req: CompletionRequest): Promise<CompletionResult>;
  /**
   * Remote providers: whether the provider answers at all (one token, no item data), for a half-open
   * circuit breaker. Rejects when it does not answer in time.
   */
  probe?(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Error codes that say the provider will not take this request, whatever we retry: the request was
 * invalid to it (a 4xx other than 401/403, 404, 408, 409 and 429), its prompt was over the served
 * context, or its body too large. The item is remembered as refused there (never sent there again);
 * credentials (401/403) and a wrong URL (404) are the provider's fault, not the item's.
 */
export const REFUSAL_CODES: ReadonlySet<string> = new Set([
  // Above the provider's clearance: it is never sent there again (the routing policy would not, the scan at
  // egress may find what the marking missed).
  'clearance',
  'bad_request',
  // The model declined the item (OpenAI's `refusal`): asked again it declines again, each time paid for; another
  // provider (a local model) may answer it.
  'model_refused',
  'context_exceeded',
  'too_large',
  'client_error',
]);

/**
 * A rate limit the server asked to wait out for longer than a call is held for it (MAX_RETRY_AFTER_MS): a quota
 * spent for minutes or hours (a daily token limit, a free tier's requests per day). Every call sent there meanwhile
 * is refused again, so the provider's route is closed for that while (its circuit opened) and items go elsewhere.
 */
export function isLongRateLimit(err: unknown): err is ProviderError {
  return (
    err instanceof ProviderError &&
    err.code === 'rate_limited' &&
    err.retryAfterMs !== undefined &&
    err.retryAfterMs > MAX_RETRY_AFTER_MS
  );
}

/**
 * The provider refuses this deployment, not the item: its key (401, 403) or its account (402, credits spent). Every
 * call sent there fails the same way until an operator acts, so the route is closed (its circuit opened) and items
 * go elsewhere; the item is not ruled out, and may go back there once the provider takes requests again.
 */
export function isAccountRefusal(err: unknown): err is ProviderError {
  return err instanceof ProviderError && (err.code === 'unauthorized' || err.code === 'payment_required');
}

export function isRefusal(err: unknown): err is ProviderError {
  return err instanceof ProviderError && REFUSAL_CODES.has(err.code);
}
