import type OpenAI from 'openai';
import { isCleared, type Sensitivity } from '#libs/domain';
import type { PiiRules } from '#libs/privacy';
import { estimateTokens } from '#libs/routing';
import { DEFAULT_PROBE_TIMEOUT_MS } from '#libs/routing';
import { ClearanceError, ProviderError, type CompletionRequest, type CompletionResult } from '../completion.js';
import { boundedAttempt, StoppedAttempt, type StopSignals } from './bounded-attempt.js';
import { streamedAnswer, wholeAnswer } from './chat-answer.js';
import { chatCompletionParams } from './chat-request.js';
import { checkCloudProviderOptions, type CloudProviderOptions } from './cloud-provider-options.js';
import type { EgressAudit, EgressRecord } from './egress-audit.js';
import { egressVerdict } from './egress-scan.js';
import { failurePrefix, throwIfStopped, toProviderError } from './error-mapping.js';
import { openAIClient } from './openai-client.js';
import { OutputLimitField, type OutputLimitFieldName } from './output-limit-field.js';
import { providerStopController } from '../local/linked-signal.js';
import { withRetries } from './retry-loop.js';

export type { CloudProviderOptions } from './cloud-provider-options.js';

/**
 * Without the remote model's tokenizer, token counts are the four-characters estimate, raised by 30%
 * (that estimate's error for English and code): an input split to fit is not refused for being a
 * little longer than estimated. Each chat message adds a few tokens of framing (OpenAI: 3-4).
 */
const ESTIMATE_MARGIN = 1.3;
const MESSAGE_FRAMING_TOKENS = 4;

/** The itemRef under which probe() requests are audited: no item's job id looks like it. */
export const PROBE_ITEM_REF = 'circuit-probe';

/**
 * Sends completions to an OpenAI-compatible API through the openai SDK: checks clearance, records each
 * request in the egress audit before it leaves, and hands the rest to one room each — request building
 * (chat-request), one attempt under its timers (bounded-attempt), reading the answer (chat-answer),
 * what a failure means (error-mapping) and whether to try again (retry-loop, retry-policy).
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
  private readonly serviceTier?: 'flex';
  private readonly probeTimeoutMs: number;
  private readonly audit?: EgressAudit;
  private readonly outputLimit: OutputLimitField;
  private readonly piiRules?: PiiRules;
  /** Aborted by close(): stops in-flight attempts and backoff sleeps. */
  private readonly closing = providerStopController();

  constructor(opts: CloudProviderOptions) {
    checkCloudProviderOptions(opts);
    this.name = opts.name;
    this.model = opts.model;
    this.contextTokens = opts.contextTokens;
    this.clearance = opts.clearance;
    this.timeoutMs = opts.timeoutMs;
    this.maxRetries = opts.maxRetries;
    this.stream = opts.stream ?? false;
    this.serviceTier = opts.serviceTier;
    this.probeTimeoutMs = opts.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
    this.audit = opts.audit;
    this.outputLimit = opts.outputLimit ?? new OutputLimitField();
    this.piiRules = opts.piiRules;
    this.client = openAIClient({ baseURL: opts.baseURL, apiKey: opts.apiKey, timeoutMs: opts.timeoutMs });
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    // Second, independent enforcement of data clearance (the routing policy is the first): the item's marking, and
    // what the request itself holds (egressVerdict), checked before anything touches the network.
    const verdict = egressVerdict(
      req.sensitivity,
      chatCompletionParams(this.model, req),
      this.clearance,
      this.piiRules,
    );
    if (!isCleared(this.clearance, verdict.sensitivity)) {
      const refusal = new ClearanceError(this.name, this.clearance, verdict.sensitivity, verdict.found);
      // The refusal stands whether or not it could be recorded (the sink logs its own failures).
      await this.audit
        ?.refused({ ...this.egressRecord(req, 0), sensitivity: verdict.sensitivity, reason: refusal.message })
        .catch(() => undefined);
      throw refusal;
    }
    const at = this.prefix(req);
    return withRetries({
      maxRetries: this.maxRetries,
      stops: this.stopsFor(req),
      at,
      attempt: async (attempt) => {
        await this.recordEgress(req, attempt);
        const sentAt = Date.now();
        const result = await this.attemptUnderLimitField(req, attempt);
        return { ...result, attemptMs: Date.now() - sentAt };
      },
      failureOf: (err) => toProviderError(err, { at, timeoutMs: this.timeoutMs }),
    });
  }

  /**
   * Whether the provider answers at all: one token asked about nothing, one attempt, within
   * probeTimeoutMs. ItemProcessor sends it through a half-open circuit before any item, so the circuit
   * closes after one round trip, not after a whole answer, and no item waits on a provider still down.
   * Fixed text, no item data; recorded in the egress audit like every request, as item PROBE_ITEM_REF.
   */
  async probe(): Promise<void> {
    const req: CompletionRequest = {
      itemRef: PROBE_ITEM_REF,
      sensitivity: 'public',
      system: 'Answer with one word.',
      prompt: 'Ready?',
      maxTokens: 1,
    };
    const at = this.prefix(req);
    throwIfStopped(this.stopsFor(req), at);
    await this.recordEgress(req, 1);
    try {
      await this.attemptUnderLimitField(req, 1, this.probeTimeoutMs);
    } catch (err) {
      if (err instanceof StoppedAttempt && err.cause === 'timeout') {
        throw new ProviderError(`${at}: no answer within ${this.probeTimeoutMs} ms`, true, 'timeout');
      }
      throw toProviderError(err, { at, timeoutMs: this.timeoutMs });
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

  /** Aborts requests in flight; later calls fail with code 'aborted'. The SDK holds nothing else to close. */
  close(): Promise<void> {
    this.closing.abort();
    return Promise.resolve();
  }

  /** Audit before the request leaves: if it cannot be recorded, it does not leave. */
  private async recordEgress(req: CompletionRequest, attempt: number): Promise<void> {
    if (!this.audit) return;
    try {
      await this.audit.beforeRequest(this.egressRecord(req, attempt));
    } catch {
      throw new ProviderError(
        `${this.prefix(req)}: the request could not be recorded in the audit trail, so it was not sent`,
        true,
        'audit_unavailable',
      );
    }
  }

  private egressRecord(req: CompletionRequest, attempt: number): EgressRecord {
    return {
      provider: this.name,
      model: this.model,
      clearance: this.clearance,
      sensitivity: req.sensitivity,
      itemRef: req.itemRef,
      attempt,
      at: new Date().toISOString(),
    };
  }

  /**
   * One attempt under the answer's cap the model takes: a model that refuses `max_tokens` for
   * `max_completion_tokens` (OutputLimitField) gets the request again at once, recorded again before it leaves.
   */
  private async attemptUnderLimitField(
    req: CompletionRequest,
    attempt: number,
    timeoutMs?: number,
  ): Promise<CompletionResult> {
    const sent = this.outputLimit.name;
    try {
      return await this.attempt(req, sent, timeoutMs);
    } catch (err) {
      if (!this.outputLimit.refused(sent, err)) throw err;
      await this.recordEgress(req, attempt);
      return this.attempt(req, this.outputLimit.name, timeoutMs);
    }
  }

  /** One request, whole or streamed, under its timer, the caller's abort and close(). */
  private attempt(
    req: CompletionRequest,
    limitField: OutputLimitFieldName,
    timeoutMs = this.timeoutMs,
  ): Promise<CompletionResult> {
    const params = {
      ...chatCompletionParams(this.model, req, limitField),
      ...(this.serviceTier && { service_tier: this.serviceTier }),
    };
    const answer = { sent: params, model: this.model, at: this.prefix(req), refusalFails: req.chat === undefined };
    return boundedAttempt({
      timeoutMs,
      stops: this.stopsFor(req),
      run: async (signal, stillFlowing) => {
        if (!this.stream) {
          const completion = await this.client.chat.completions.create({ ...params, stream: false }, { signal });
          return wholeAnswer(completion, answer);
        }
        const stream = await this.client.chat.completions.create(
          { ...params, stream: true, stream_options: { include_usage: true } },
          { signal },
        );
        return streamedAnswer(stream, { ...answer, signal, onChunk: stillFlowing });
      },
    });
  }

  private stopsFor(req: CompletionRequest): StopSignals {
    return { caller: req.signal, closing: this.closing.signal };
  }

  private prefix(req: CompletionRequest): string {
    return failurePrefix(this.name, req.itemRef);
  }
}
