import { toFile, type APIPromise } from 'openai';
import type OpenAI from 'openai';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import { isCleared, type Sensitivity } from '#libs/domain';
import type { PiiRules } from '#libs/privacy';
import { ClearanceError, ProviderError, type CompletionRequest, type CompletionResult } from '../completion.js';
import type { ApiKeySource } from './api-key-source.js';
import { wholeAnswer, type SentRequest } from './chat-answer.js';
import { chatCompletionParams } from './chat-request.js';
import type { EgressAudit } from './egress-audit.js';
import { egressVerdict } from './egress-scan.js';
import { toProviderError } from './error-mapping.js';
import { openAIClient } from './openai-client.js';
import type { OutputLimitField } from './output-limit-field.js';

export const BATCH_ENDPOINT = '/v1/chat/completions';

/** One line of a provider batch's input file: an item's request, named by its custom_id. */
export interface BatchLineRequest {
  customId: string;
  /** The egress audit's itemRef (the item's job id) and the clearance check's sensitivity. */
  itemRef: string;
  sensitivity: Sensitivity;
  body: Record<string, unknown>;
}

/** What the provider says of one of its batches. */
export interface ProviderBatchStatus {
  id: string;
  /** validating, in_progress, finalizing, completed, failed, expired, cancelling, cancelled. */
  status: string;
  outputFileId: string | null;
  errorFileId: string | null;
  /** Epoch ms. */
  createdAt: number;
  completedAt: number | null;
}

/** One line's result: the answer, or why the provider did not give one. */
export type BatchLineResult =
  { kind: 'answered'; completion: CompletionResult } | { kind: 'failed'; code: string; message: string };

/** Statuses after which a provider batch changes no more. */
export const FINAL_BATCH_STATUSES: ReadonlySet<string> = new Set(['completed', 'failed', 'expired', 'cancelled']);

export interface ProviderBatchApiOptions {
  /** The route's name (`frontier.batch`): in audit records and errors. */
  name: string;
  baseURL: string;
  apiKey: string | ApiKeySource;
  model: string;
  clearance: Sensitivity;
  timeoutMs: number;
  audit?: EgressAudit;
  /** What raises a line above its item's marking at egress (PII_RULES); the defaults when absent. */
  piiRules?: PiiRules;
  /** The answer's cap field the model takes, as the provider's synchronous tiers learned it. */
  outputLimit?: OutputLimitField;
}

/**
 * A provider's own Batch API through the openai SDK (issue 16 §3): a JSONL file of chat-completion requests
 * uploaded (files.create, purpose "batch"), a batch created on it with the 24 h window, its status polled, its
 * output and error files read back line by line, a cancel passed on. Every line is checked against the route's
 * clearance and recorded in the egress audit before the file leaves: one line unrecorded, nothing is uploaded.
 */
export class ProviderBatchApi {
  readonly name: string;
  private readonly client: OpenAI;

  constructor(private readonly opts: ProviderBatchApiOptions) {
    this.name = opts.name;
    this.client = openAIClient({ baseURL: opts.baseURL, apiKey: opts.apiKey, timeoutMs: opts.timeoutMs });
  }

  /** The body one line carries: the same chat completion a synchronous call would send. */
  lineBody(req: CompletionRequest): Record<string, unknown> {
    return { ...chatCompletionParams(this.opts.model, req, this.opts.outputLimit?.name) };
  }

  /**
   * Uploads the lines and creates the provider batch, `metadata.flush` naming Switchyard's record of it (so
   * find() can tell whether a batch was created before a crash). Refuses (before any I/O) a line above the
   * route's clearance, and sends nothing when a line cannot be recorded in the audit.
   */
  async submit(lines: readonly BatchLineRequest[], flushId: string): Promise<ProviderBatchStatus> {
    const at = `provider "${this.name}", provider batch ${flushId}`;
    for (const line of lines) {
      // The marking, and what the line itself holds, as CloudProvider checks each request (egressVerdict).
      const verdict = egressVerdict(line.sensitivity, line.body, this.opts.clearance, this.opts.piiRules);
      if (!isCleared(this.opts.clearance, verdict.sensitivity))
        throw new ClearanceError(this.name, this.opts.clearance, verdict.sensitivity, verdict.found);
    }
    for (const line of lines) {
      try {
        await this.opts.audit?.beforeRequest({
          provider: this.name,
          model: typeof line.body.model === 'string' ? line.body.model : this.opts.model,
          clearance: this.opts.clearance,
          sensitivity: line.sensitivity,
          itemRef: line.itemRef,
          attempt: 1,
          at: new Date().toISOString(),
        });
      } catch {
        throw new ProviderError(
          `${at}: a line could not be recorded in the audit trail, so nothing was sent`,
          true,
          'audit_unavailable',
        );
      }
    }
    const jsonl = lines
      .map((l) => JSON.stringify({ custom_id: l.customId, method: 'POST', url: BATCH_ENDPOINT, body: l.body }))
      .join('\n');
    const upload = await toFile(Buffer.from(jsonl, 'utf8'), `${flushId}.jsonl`);
    const file = await this.call(at, () => this.client.files.create({ file: upload, purpose: 'batch' }));
    const batch = await this.call(at, () =>
      this.client.batches.create({
        input_file_id: file.id,
        endpoint: BATCH_ENDPOINT,
        completion_window: '24h',
        metadata: { flush: flushId },
      }),
    );
    return statusOf(batch);
  }

  /** The provider batch created for `flushId`, if any (a worker died between upload and recording its id). */
  async find(flushId: string): Promise<ProviderBatchStatus | null> {
    const at = `provider "${this.name}", provider batch ${flushId}`;
    const page = await this.call(at, () => this.client.batches.list({ limit: 100 }));
    const found = page.data.find((b) => b.metadata?.flush === flushId);
    return found ? statusOf(found) : null;
  }

  async status(id: string): Promise<ProviderBatchStatus> {
    return statusOf(
      await this.call(`provider "${this.name}", provider batch ${id}`, () => this.client.batches.retrieve(id)),
    );
  }

  async cancel(id: string): Promise<ProviderBatchStatus> {
    return statusOf(
      await this.call(`provider "${this.name}", provider batch ${id}`, () => this.client.batches.cancel(id)),
    );
  }

  /**
   * Every line the provider answered or failed, by custom_id: the output file's and the error file's. `sent`: each
   * line's body as it went into the input file, what a line's usage is estimated from where the provider reported
   * none (usageOf).
   */
  async results(
    batch: ProviderBatchStatus,
    sent: ReadonlyMap<string, SentRequest> = new Map(),
  ): Promise<Map<string, BatchLineResult>> {
    const at = `provider "${this.name}", provider batch ${batch.id}`;
    const results = new Map<string, BatchLineResult>();
    for (const fileId of [batch.outputFileId, batch.errorFileId]) {
      if (!fileId) continue;
      const text = await this.call(at, async () => (await this.client.files.content(fileId)).text());
      for (const raw of text.split('\n')) {
        if (raw.trim() === '') continue;
        const line = parseLine(raw);
        if (line) results.set(line.customId, this.lineResult(line, sent.get(line.customId) ?? {}, at));
      }
    }
    return results;
  }

  private lineResult(line: ParsedLine, sent: SentRequest, at: string): BatchLineResult {
    const lineAt = `${at}, line ${line.customId}`;
    if (line.statusCode === 200 && line.body) {
      try {
        return {
          kind: 'answered',
          completion: wholeAnswer(line.body as ChatCompletion, { sent, model: this.opts.model, at: lineAt }),
        };
      } catch (err) {
        return { kind: 'failed', code: 'bad_response', message: err instanceof Error ? err.message : String(err) };
      }
    }
    // Type and code only, as for synchronous calls: a server's message may echo the request.
    const code = line.errorCode ?? (line.statusCode ? `http_${line.statusCode}` : 'no_answer');
    return { kind: 'failed', code, message: `${lineAt}: ${code}` };
  }

  private async call<T>(at: string, fn: () => APIPromise<T> | Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toProviderError(err, { at, timeoutMs: this.opts.timeoutMs });
    }
  }
}

interface ParsedLine {
  customId: string;
  statusCode: number | null;
  body: unknown;
  errorCode: string | null;
}

/** A line of an output or error file; null for one that is not (its text is never repeated). */
/** An output or error file's line as OpenAI writes it. */
interface OutputLine {
  custom_id?: unknown;
  response?: { status_code?: unknown; body?: { error?: { code?: unknown; type?: unknown } } } | null;
  error?: { code?: unknown } | null;
}

function parseLine(raw: string): ParsedLine | null {
  let v: OutputLine;
  try {
    v = JSON.parse(raw) as OutputLine;
  } catch {
    return null;
  }
  if (typeof v?.custom_id !== 'string') return null;
  const code = v.error?.code ?? v.response?.body?.error?.code ?? v.response?.body?.error?.type;
  return {
    customId: v.custom_id,
    statusCode: typeof v.response?.status_code === 'number' ? v.response.status_code : null,
    body: v.response?.body,
    errorCode: typeof code === 'string' ? code : null,
  };
}

function statusOf(b: OpenAI.Batches.Batch): ProviderBatchStatus {
  return {
    id: b.id,
    status: b.status,
    outputFileId: b.output_file_id ?? null,
    errorFileId: b.error_file_id ?? null,
    createdAt: b.created_at * 1000,
    completedAt: b.completed_at ? b.completed_at * 1000 : null,
  };
}
