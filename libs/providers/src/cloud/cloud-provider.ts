import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import type { ChatCompletionCreateParamsBase } from 'openai/resources/chat/completions';
import { isCleared, type Sensitivity } from '#libs/routing/src/sensitivity.js';
import { estimateTokens } from '#libs/routing/src/token-estimate.js';
import { DEFAULT_PROBE_TIMEOUT_MS } from '#libs/routing/src/routing-policy.js';
import { fitsStrictMode } from './strict-schema.js';
import {
  ClearanceError,
  ProviderError,
  type CompletionRequest,
  type CompletionResult,
  type TokenUsage,
} from '../completion.js';
import type { ApiKeySource } from './api-key-source.js';
import type { EgressAudit } from './egress-audit.js';

export interface CloudProviderOptions {
  /** Names the provider in errors and audit records. */
  name: string;
  /** Any OpenAI-compatible endpoint, including /v1: OpenAI, vLLM, llama.cpp server, the test double. */
  baseURL: string;
  /** A fixed key, or a source asked before every request (a key file re-read when it changes). */
  apiKey: string | ApiKeySource;
  model: string;
  /** Highest sensitivity this provider may receive. */
  clearance: Sensitivity;
  /**
   * Limit on one attempt. Without streaming it covers the whole answer; with streaming it is the
   * longest silence allowed between chunks, so a long answer that keeps flowing is not cut off.
   */
  timeoutMs: number;
  /** Further attempts after the first one, for 429, 408, 5xx, connection errors and timeouts. */
  maxRetries: number;
  /**
   * The model's context window in tokens (prompt plus answer), from configuration: the API does not
   * say. Longer inputs are split before they are sent (libs/jobs item-run).
   */
  contextTokens: number;
  stream?: boolean;
  /** Limit on probe(): a provider that has not answered one token within it is not back (CIRCUIT_PROBE_TIMEOUT_MS). */
  probeTimeoutMs?: number;
  /** Told right before every request leaves and of every refusal; a failure to record stops the request. */
  audit?: EgressAudit;
}

/**
 * Without the remote model's tokenizer, token counts are the four-characters estimate, raised by 30%
 * (that estimate's error for English and code): an input split to fit is not refused for being a
 * little longer than estimated. Each chat message adds a few tokens of framing (OpenAI: 3-4).
 */
const ESTIMATE_MARGIN = 1.3;
const MESSAGE_FRAMING_TOKENS = 4;

/** First backoff step and ceiling; each retry doubles the step, then jitter spreads callers out. */
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 8_000;
/**
 * A Retry-After longer than this is not slept through: the error goes back to the queue, whose
 * delayed retry frees the worker slot instead of holding it idle.
 */
const MAX_RETRY_AFTER_MS = 60_000;

type StopCause = 'timeout' | 'aborted' | 'closed';

/** The itemRef under which probe() requests are audited: no item's job id looks like it. */
export const PROBE_ITEM_REF = 'circuit-probe';

/**
 * Sends completions to an OpenAI-compatible API through the openai SDK.
 *
 * Retries are done here, not by the SDK (it runs with maxRetries 0), because in openai 6.30 the
 * SDK's own retries (a) sleep through backoff and any Retry-After without listening to the abort
 * signal, (b) obey an unbounded Retry-After, (c) time out only until response headers arrive, so a
 * body or stream that stalls afterwards hangs, and (d) never retry a stream cut after the headers.
 */
export class CloudProvider {
  readonly name: string;
  readonly model: string;
  readonly clearance: Sensitivity;
  readonly contextTokens: number;

  private readonly client: OpenAI;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly stream: boolean;
  private readonly probeTimeoutMs: number;
  private readonly audit?: EgressAudit;
  /** Aborted by close(): stops in-flight attempts and backoff sleeps. */
  private readonly closing = new AbortController();

  constructor(opts: CloudProviderOptions) {
    if (!Number.isInteger(opts.timeoutMs) || opts.timeoutMs <= 0) {
      throw new Error(`CloudProvider "${opts.name}": timeoutMs must be a positive integer, got ${opts.timeoutMs}`);
    }
    if (!Number.isInteger(opts.maxRetries) || opts.maxRetries < 0) {
      throw new Error(`CloudProvider "${opts.name}": maxRetries must be a non-negative integer, got ${opts.maxRetries}`);
    }
    if (opts.probeTimeoutMs !== undefined && (!Number.isInteger(opts.probeTimeoutMs) || opts.probeTimeoutMs <= 0)) {
      throw new Error(`CloudProvider "${opts.name}": probeTimeoutMs must be a positive integer, got ${opts.probeTimeoutMs}`);
    }
    if (!Number.isInteger(opts.contextTokens) || opts.contextTokens <= 0) {
      throw new Error(`CloudProvider "${opts.name}": contextTokens must be a positive integer, got ${opts.contextTokens}`);
    }
    this.name = opts.name;
    this.model = opts.model;
    this.contextTokens = opts.contextTokens;
    this.clearance = opts.clearance;
    this.timeoutMs = opts.timeoutMs;
    this.maxRetries = opts.maxRetries;
    this.stream = opts.stream ?? false;
    this.probeTimeoutMs = opts.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
    this.audit = opts.audit;
    const key = opts.apiKey;
    this.client = new OpenAI({
      baseURL: opts.baseURL,
      // A function is called by the SDK before every request, so a rotated key is used from the next one on.
      apiKey: typeof key === 'string' ? key : () => key.current(),
      // The SDK would otherwise pick these up from OPENAI_ORG_ID / OPENAI_PROJECT_ID and send them
      // to whatever endpoint baseURL names.
      organization: null,
      project: null,
      maxRetries: 0,
      timeout: opts.timeoutMs,
      // 'off' also overrides OPENAI_LOG: at debug level the SDK logs request options, prompts included.
      logLevel: 'off',
    });
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    // Second, independent enforcement of data clearance (the routing policy is the first):
    // checked before anything touches the network.
    if (!isCleared(this.clearance, req.sensitivity)) {
      const refusal = new ClearanceError(this.name, this.clearance, req.sensitivity);
      // The refusal stands whether or not it could be recorded (the sink logs its own failures).
      await this.audit?.refused({ ...this.egressRecord(req, 0), reason: refusal.message }).catch(() => undefined);
      throw refusal;
    }
    for (let attempt = 0; ; attempt++) {
      this.throwIfStopped(req);
      let failure: ProviderError;
      let retryAfterMs: number | undefined;
      try {
        await this.recordEgress(req, attempt + 1);
        const sentAt = Date.now();
        const result = await this.attempt(req);
        return { ...result, attemptMs: Date.now() - sentAt };
      } catch (err) {
        failure = this.toProviderError(err, req);
        retryAfterMs = err instanceof APIError ? retryAfterOf(err.headers) : undefined;
      }
      if (!failure.retryable || failure.code === 'aborted' || attempt >= this.maxRetries) throw failure;
      if (retryAfterMs !== undefined && retryAfterMs > MAX_RETRY_AFTER_MS) throw failure;
      await this.sleep(retryAfterMs ?? backoffMs(attempt), req);
    }
  }

  /**
   * Whether the provider answers at all: one token asked about nothing, one attempt, within
   * probeTimeoutMs. ItemProcessor sends it through a half-open circuit before any item, so the circuit
   * closes after one round trip, not after a whole answer, and no item waits on a provider still down.
   * Fixed text, no item data; recorded in the egress audit like every request, as item PROBE_ITEM_REF.
   */
  async probe(): Promise<void> {
    const req: CompletionRequest = { itemRef: PROBE_ITEM_REF, sensitivity: 'public', system: 'Answer with one word.', prompt: 'Ready?', maxTokens: 1 };
    this.throwIfStopped(req);
    await this.recordEgress(req, 1);
    try {
      await this.attempt(req, this.probeTimeoutMs);
    } catch (err) {
      if (err instanceof StoppedAttempt && err.cause === 'timeout') {
        throw new ProviderError(`${this.prefix(req)}: no answer within ${this.probeTimeoutMs} ms`, true, 'timeout');
      }
      throw this.toProviderError(err, req);
    }
  }

  /** An estimate with a margin (see ESTIMATE_MARGIN): the remote tokenizer is not here. */
  countTokens(text: string): number {
    return Math.ceil(estimateTokens(text) * ESTIMATE_MARGIN);
  }

  /** The system and user messages with their framing, estimated like countTokens. */
  promptTokens(system: string, prompt: string): number {
    return this.countTokens(system) + this.countTokens(prompt) + 2 * MESSAGE_FRAMING_TOKENS;
  }

  /** Audit before the request leaves: if it cannot be recorded, it does not leave. */
  private async recordEgress(req: CompletionRequest, attempt: number): Promise<void> {
    if (!this.audit) return;
    try {
      await this.audit.beforeRequest(this.egressRecord(req, attempt));
    } catch {
      throw new ProviderError(`${this.prefix(req)}: the request could not be recorded in the audit trail, so it was not sent`, true, 'audit_unavailable');
    }
  }

  private egressRecord(req: CompletionRequest, attempt: number) {
    return { provider: this.name, clearance: this.clearance, sensitivity: req.sensitivity, itemRef: req.itemRef, attempt, at: new Date().toISOString() };
  }

  /** Aborts requests in flight; later calls fail with code 'aborted'. The SDK holds nothing else to close. */
  async close(): Promise<void> {
    this.closing.abort();
  }

  private async attempt(req: CompletionRequest, timeoutMs = this.timeoutMs): Promise<CompletionResult> {
    const controller = new AbortController();
    let stopCause: StopCause | undefined;
    const stop = (cause: StopCause) => {
      stopCause ??= cause;
      controller.abort();
    };
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => stop('timeout'), timeoutMs);
    };
    const onAbort = () => stop('aborted');
    const onClose = () => stop('closed');
    req.signal?.addEventListener('abort', onAbort, { once: true });
    this.closing.signal.addEventListener('abort', onClose, { once: true });
    arm();
    try {
      return this.stream ? await this.streamed(req, controller.signal, arm) : await this.whole(req, controller.signal);
    } catch (err) {
      throw stopCause ? new StoppedAttempt(stopCause) : err;
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      this.closing.signal.removeEventListener('abort', onClose);
    }
  }

  private params(req: CompletionRequest): ChatCompletionCreateParamsBase {
    return {
      model: this.model,
      messages: [
        { role: 'system', content: req.system },
        { role: 'user', content: req.prompt },
      ],
      // max_tokens, not max_completion_tokens: Ollama and LM Studio accept only max_tokens, and
      // llama.cpp server silently ignored max_completion_tokens (no cap at all) until early 2026.
      max_tokens: req.maxTokens,
      // Structured answers: the API constrains decoding to the schema where strict mode accepts it, and is
      // guided by it otherwise (fitsStrictMode); we validate the answer either way.
      ...(req.jsonSchema
        ? { response_format: { type: 'json_schema' as const, json_schema: { name: 'answer', schema: req.jsonSchema, strict: fitsStrictMode(req.jsonSchema) } } }
        : {}),
    };
  }

  private async whole(req: CompletionRequest, signal: AbortSignal): Promise<CompletionResult> {
    const completion = await this.client.chat.completions.create({ ...this.params(req), stream: false }, { signal });
    // A proxy or misrouted baseURL can answer 200 with something that is not a completion.
    if (!Array.isArray(completion?.choices)) {
      throw new ProviderError(`${this.prefix(req)}: the answer is not a chat completion`, true, 'bad_response');
    }
    const choice = completion.choices[0];
    const text = choice?.message?.content ?? '';
    return {
      text,
      usage: usageOf(completion.usage, req, text),
      model: completion.model || this.model,
      finishReason: this.finishReasonOf(choice?.finish_reason, req),
    };
  }

  private async streamed(req: CompletionRequest, signal: AbortSignal, onChunk: () => void): Promise<CompletionResult> {
    const stream = await this.client.chat.completions.create(
      { ...this.params(req), stream: true, stream_options: { include_usage: true } },
      { signal },
    );
    let text = '';
    let model = '';
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      onChunk();
      model ||= chunk.model;
      const choice = chunk.choices[0];
      if (choice?.delta?.content) text += choice.delta.content;
      if (choice?.finish_reason) finish = choice.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    // The SDK ends a stream quietly when its signal aborts, so an abort looks like a short stream.
    if (signal.aborted) throw new Error('stream aborted');
    return {
      text,
      usage: usageOf(usage, req, text),
      model: model || this.model,
      finishReason: this.finishReasonOf(finish, req),
    };
  }

  /** Only a 'stop' or 'length' answer is a result; anything else would pass off a partial answer as whole. */
  private finishReasonOf(reason: string | null | undefined, req: CompletionRequest): 'stop' | 'length' {
    if (reason === 'stop' || reason === 'length') return reason;
    if (reason === 'content_filter') {
      throw new ProviderError(`${this.prefix(req)}: the answer was withheld by a content filter`, false, 'content_filter');
    }
    if (reason == null) {
      throw new ProviderError(`${this.prefix(req)}: the answer ended without a finish_reason (cut off)`, true, 'connection');
    }
    throw new ProviderError(`${this.prefix(req)}: unexpected finish_reason "${reason}"`, false, 'unexpected_finish');
  }

  private toProviderError(err: unknown, req: CompletionRequest): ProviderError {
    const at = this.prefix(req);
    if (err instanceof ProviderError) return err;
    if (err instanceof StoppedAttempt) {
      if (err.cause === 'timeout') return new ProviderError(`${at}: no answer within ${this.timeoutMs} ms`, true, 'timeout');
      // Stopped by close(): the work is fine, this process is going away, so another attempt may run it.
      if (err.cause === 'closed') return new ProviderError(`${at}: provider closed mid-request`, true, 'aborted');
      return new ProviderError(`${at}: aborted by the caller`, false, 'aborted');
    }
    if (err instanceof APIConnectionTimeoutError) {
      return new ProviderError(`${at}: no answer within ${this.timeoutMs} ms`, true, 'timeout');
    }
    if (err instanceof APIConnectionError) return new ProviderError(`${at}: connection failed`, true, 'connection');
    if (err instanceof APIError && err.status !== undefined) {
      // Status and the error's type/code only: some servers echo request fields (prompt text) in
      // their error messages, e.g. validation errors from vLLM's FastAPI layer.
      const detail = [errorField(err, 'type'), errorField(err, 'code')].filter(Boolean).join(', ');
      const message = `${at}: HTTP ${err.status}${detail ? ` (${detail})` : ''}`;
      if (err.status === 429) return new ProviderError(message, true, 'rate_limited');
      if (err.status === 408) return new ProviderError(message, true, 'timeout');
      // A conflict (a concurrent request on the same resource) passes: the same request may succeed again.
      if (err.status === 409) return new ProviderError(message, true, 'conflict');
      if (err.status >= 500) return new ProviderError(message, true, 'server_error');
      return new ProviderError(message, false, clientErrorCode(err));
    }
    if (err instanceof APIError) {
      // An error event inside an SSE stream: the server gave up mid-answer.
      return new ProviderError(`${at}: the server reported an error mid-stream`, true, 'server_error');
    }
    // Anything else thrown while reading the answer: a socket closed mid-body ("terminated"),
    // a body cut short so its JSON does not parse.
    const name = err instanceof Error ? err.name : typeof err;
    return new ProviderError(`${at}: the answer was cut off (${name})`, true, 'connection');
  }

  private throwIfStopped(req: CompletionRequest): void {
    if (req.signal?.aborted) throw new ProviderError(`${this.prefix(req)}: aborted by the caller`, false, 'aborted');
    if (this.closing.signal.aborted) throw new ProviderError(`${this.prefix(req)}: provider is closed`, true, 'aborted');
  }

  /** Waits before a retry; an abort or close() ends the wait at once. */
  private async sleep(ms: number, req: CompletionRequest): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', done);
        this.closing.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      req.signal?.addEventListener('abort', done, { once: true });
      this.closing.signal.addEventListener('abort', done, { once: true });
    });
    this.throwIfStopped(req);
  }

  private prefix(req: CompletionRequest): string {
    return `provider "${this.name}", item ${req.itemRef}`;
  }
}

/** Marks an attempt this process stopped itself, so the SDK's generic abort error is not misread. */
class StoppedAttempt extends Error {
  constructor(override readonly cause: StopCause) {
    super(`attempt stopped: ${cause}`);
  }
}

/** Exponential backoff with "equal jitter": half the step is fixed, half is random. */
function backoffMs(attempt: number): number {
  const step = Math.min(BACKOFF_BASE_MS * 2 ** attempt, BACKOFF_MAX_MS);
  return step / 2 + Math.random() * (step / 2);
}

/** Retry-After-Ms (OpenAI's own) or Retry-After, in seconds or as an HTTP date. */
function retryAfterOf(headers: Headers | undefined): number | undefined {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number.parseFloat(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * Usage as the API reported it. A server that reports none (some OpenAI-compatible servers omit it,
 * and the stream's usage chunk is optional) gets the usual estimate of four characters per token
 * rather than losing an answer that was already paid for.
 */
function usageOf(usage: OpenAI.CompletionUsage | null | undefined, req: CompletionRequest, text: string): TokenUsage {
  if (usage) return { inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens };
  return {
    inputTokens: Math.ceil((req.system.length + req.prompt.length) / 4),
    outputTokens: Math.ceil(text.length / 4),
  };
}

function errorField(err: APIError, field: 'type' | 'code'): string | undefined {
  const value = field === 'code' ? err.code : err.type;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * A 4xx by what it says about the request. A prompt over the served model's context is told apart from
 * other refusals by the error's type or code, as OpenAI (`context_length_exceeded`), llama.cpp's server
 * (`exceed_context_size_error`) and vLLM word it: the item may still fit a provider with a larger context.
 */
function clientErrorCode(err: APIError): string {
  const status = err.status!;
  if (status === 401 || status === 403) return 'unauthorized';
  if (status === 404) return 'not_found';
  if (status === 413) return 'too_large';
  if ([errorField(err, 'type'), errorField(err, 'code')].some((v) => v !== undefined && /context/i.test(v))) return 'context_exceeded';
  if (status === 400 || status === 422) return 'bad_request';
  return 'client_error';
}
