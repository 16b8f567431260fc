import type { BatchView, ItemView } from '#libs/domain';
import { chatAnswerOf } from '#libs/jobs';
import type { LineError } from './batch-lines.js';

/** What Switchyard keeps of a batch created through the OpenAI surface, beside the Switchyard batch it made. */
export interface OpenAIBatchRecord {
  /** `batch_<uuid>`. */
  id: string;
  /** The Switchyard batch its valid lines became; null when no line was valid (the batch failed). */
  nativeId: string | null;
  inputFileId: string;
  endpoint: string;
  completionWindow: string;
  metadata: Record<string, string> | null;
  tenant: string | null;
  /** Epoch ms. */
  createdAt: number;
  expiresAt: number;
  /** Lines in the input file (valid or not). */
  total: number;
  /**
   * How many of the input file's lines were invalid. Their errors are kept beside the record, not in it
   * (`OpenAIKeys.lineErrors`): every retrieve reads the record, and only the error file and a failed batch's
   * `errors` need them. Absent from records written before; those hold `lineErrors` instead.
   */
  invalidLines?: number;
  /** The invalid lines, in records written before they moved beside the record (read where present). */
  lineErrors?: LineError[];
  /** The same lines again when none was valid, in records written before (no longer written or read). */
  failure?: LineError[] | null;
  cancellingAt: number | null;
  /** When the window passed with items unfinished: those were cancelled and end as batch_expired. */
  expiredAt: number | null;
}

export type OpenAIBatchStatus =
  'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled';

/** The Batch object as OpenAI's API returns it (what the openai SDK's `Batch` type reads). */
export interface OpenAIBatch {
  id: string;
  object: 'batch';
  endpoint: string;
  errors: {
    object: 'list';
    data: Array<{ code: string; message: string; param: string | null; line: number | null }>;
  } | null;
  input_file_id: string;
  completion_window: string;
  status: OpenAIBatchStatus;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  metadata: Record<string, string> | null;
  /**
   * The tokens of the batch's requests so far, in OpenAI's shape (its `BatchUsage`); null before any item exists.
   * Switchyard does not track cached or reasoning tokens: their details read 0.
   */
  usage: OpenAIBatchUsage | null;
  /**
   * OpenAI names the one model that ran the batch. Switchyard routes each line on its own, so there may be several:
   * each output line's `model` says which ran it, and this stays null.
   */
  model: null;
  /** Switchyard's own view of the batch underneath: its id, routes, usage and cost. */
  switchyard: {
    batch_id: string | null;
    routes: BatchView['routes'] | null;
    usage: BatchView['usage'] | null;
    cost_usd: number | null;
  };
}

export interface OpenAIBatchUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

function batchUsage(usage: BatchView['usage']): OpenAIBatchUsage {
  return {
    input_tokens: usage.inputTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: usage.outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
}

/** The ids of a batch's generated files: read from its items when asked for, never stored twice. */
export function outputFileId(batchId: string): string {
  return `file-output-${batchId.replace(/^batch_/, '')}`;
}
export function errorFileId(batchId: string): string {
  return `file-errors-${batchId.replace(/^batch_/, '')}`;
}
/** The batch a generated file id names, and which of its files; null for an uploaded file's id. */
export function generatedFile(fileId: string): { batchId: string; kind: 'output' | 'errors' } | null {
  const m = /^file-(output|errors)-([0-9a-f-]{36})$/.exec(fileId);
  return m ? { batchId: `batch_${m[2]}`, kind: m[1] as 'output' | 'errors' } : null;
}

const seconds = (ms: number | null | undefined): number | null => (ms == null ? null : Math.floor(ms / 1000));
const isoSeconds = (iso: string | null): number | null => (iso === null ? null : seconds(Date.parse(iso)));

/**
 * The OpenAI Batch object of a record and the Switchyard batch underneath (issue 16 §1): OpenAI's status
 * lifecycle read from the items' counts, request_counts over every line of the input file (an invalid
 * line counts as failed), and the output and error files once the batch has finished.
 */
export function openAIBatchOf(
  rec: OpenAIBatchRecord,
  native: BatchView | null,
  /**
   * The input file's invalid lines (the first of them: MAX_LISTED_LINE_ERRORS): a batch with no valid line (`native`
   * null) lists them as its `errors`, and its error file holds every one.
   */
  failure: readonly LineError[] = [],
): OpenAIBatch {
  const base = {
    id: rec.id,
    object: 'batch' as const,
    endpoint: rec.endpoint,
    input_file_id: rec.inputFileId,
    completion_window: rec.completionWindow,
    created_at: seconds(rec.createdAt)!,
    expires_at: seconds(rec.expiresAt)!,
    metadata: rec.metadata,
    cancelling_at: seconds(rec.cancellingAt),
    expired_at: null as number | null,
    model: null,
  };
  if (native === null) {
    return {
      ...base,
      errors: failure.length > 0 ? { object: 'list', data: failure.map(errorEntry) } : null,
      status: 'failed',
      output_file_id: null,
      // Every invalid line, as a batch that ran lists them: `errors` lists only the first of a long file's.
      error_file_id: rec.total > 0 ? errorFileId(rec.id) : null,
      in_progress_at: null,
      finalizing_at: null,
      completed_at: null,
      failed_at: seconds(rec.createdAt),
      cancelled_at: null,
      // No line ran, and none will: every one counts as failed, as request_counts counts an invalid line.
      request_counts: { total: rec.total, completed: 0, failed: rec.total },
      usage: null,
      switchyard: { batch_id: null, routes: null, usage: null, cost_usd: null },
    };
  }
  if (native.status === 'validating' || (native.status === 'failed' && native.errors)) {
    // Accepted, not yet expanded into items by a worker; or its expansion refused what the API accepted.
    const validating = native.status === 'validating';
    return {
      ...base,
      errors: validating
        ? null
        : {
            object: 'list',
            data: (native.errors ?? []).map((e) => ({
              code: 'invalid_request',
              message: e.message,
              param: e.field,
              line: null,
            })),
          },
      status: !validating
        ? 'failed'
        : rec.cancellingAt !== null
          ? 'cancelling'
          : rec.expiredAt !== null
            ? 'finalizing'
            : 'validating',
      output_file_id: null,
      error_file_id: null,
      in_progress_at: null,
      finalizing_at: null,
      completed_at: null,
      failed_at: validating ? null : isoSeconds(native.finishedAt),
      cancelled_at: null,
      request_counts: { total: rec.total, completed: 0, failed: validating ? 0 : rec.total },
      usage: null,
      switchyard: { batch_id: native.id, routes: null, usage: null, cost_usd: null },
    };
  }
  const { counts } = native;
  const open = counts.queued + counts.running;
  const finished = open === 0;
  const finishedAt = isoSeconds(native.finishedAt);
  const failed = rec.total - counts.completed - open;
  const status: OpenAIBatchStatus =
    rec.cancellingAt !== null
      ? finished
        ? 'cancelled'
        : 'cancelling'
      : rec.expiredAt !== null
        ? finished
          ? 'expired'
          : 'finalizing'
        : finished
          ? 'completed'
          : 'in_progress';
  return {
    ...base,
    errors: null,
    status,
    output_file_id: finished && counts.completed > 0 ? outputFileId(rec.id) : null,
    error_file_id: finished && failed > 0 ? errorFileId(rec.id) : null,
    in_progress_at: seconds(rec.createdAt),
    finalizing_at: finished ? finishedAt : null,
    completed_at: status === 'completed' ? finishedAt : null,
    failed_at: null,
    expired_at: status === 'expired' ? seconds(rec.expiredAt) : null,
    cancelled_at: status === 'cancelled' ? finishedAt : null,
    request_counts: { total: rec.total, completed: counts.completed, failed },
    usage: batchUsage(native.usage),
    switchyard: { batch_id: native.id, routes: native.routes, usage: native.usage, cost_usd: native.cost.usd },
  };
}

function errorEntry(e: LineError) {
  return { code: e.code, message: e.message, param: e.param, line: e.line };
}

/** A completed chat item as an OpenAI chat.completion, with the route it took and its cost alongside. */
export function chatCompletionOf(batchId: string, item: ItemView) {
  const answer = chatAnswerOf(item.result ?? '');
  const usage = item.usage ?? { inputTokens: 0, outputTokens: 0 };
  return {
    id: `chatcmpl-${batchId}-${item.index}`,
    object: 'chat.completion' as const,
    created: isoSeconds(item.finishedAt) ?? 0,
    model: item.route?.model ?? '',
    choices: [
      {
        index: 0,
        message: { role: 'assistant' as const, content: answer.content, refusal: null },
        logprobs: null,
        finish_reason: answer.finish_reason,
      },
    ],
    usage: {
      prompt_tokens: usage.inputTokens,
      completion_tokens: usage.outputTokens,
      total_tokens: usage.inputTokens + usage.outputTokens,
    },
    switchyard: {
      route: item.route ? { target: item.route.target, provider: item.route.provider, model: item.route.model } : null,
      cost_usd: item.costUsd,
    },
  };
}

/**
 * One line of a batch's output file (a completed item) or error file (an item that failed, was cancelled,
 * or outlived the window), in OpenAI's shape: `{id, custom_id, response: {status_code, request_id, body}, error}`.
 * Null for an item still open (never in a file: files exist once the batch has finished).
 */
export function itemLine(rec: OpenAIBatchRecord, item: ItemView): { file: 'output' | 'errors'; line: object } | null {
  const nativeId = rec.nativeId ?? '';
  const id = `batch_req_${nativeId}_${item.index}`;
  const requestId = `req_${nativeId}_${item.index}`;
  switch (item.status) {
    case 'queued':
    case 'running':
      return null;
    case 'completed':
      return {
        file: 'output',
        line: {
          id,
          custom_id: item.id,
          response: { status_code: 200, request_id: requestId, body: chatCompletionOf(nativeId, item) },
          error: null,
        },
      };
    case 'failed': {
      const { status, type } = failureStatus(item.errorCode);
      return {
        file: 'errors',
        line: {
          id,
          custom_id: item.id,
          response: {
            status_code: status,
            request_id: requestId,
            body: {
              error: { message: item.error ?? 'the request failed', type, param: null, code: item.errorCode },
            },
          },
          error: null,
          switchyard: chargedFor(item),
        },
      };
    }
    case 'cancelled': {
      const expired = rec.expiredAt !== null && rec.cancellingAt === null;
      const error = expired
        ? { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' }
        : { code: 'batch_cancelled', message: 'This request was cancelled before it ran.' };
      return { file: 'errors', line: { id, custom_id: item.id, response: null, error, switchyard: chargedFor(item) } };
    }
  }
}

/**
 * What a request that did not complete was charged for, beside its error line: calls answered before it failed
 * or was cancelled (an answer asked again, a long item's parts, a provider batch line) were billed all the same,
 * and the batch's usage and cost count them; with this the output and error files add up to the batch.
 */
function chargedFor(item: ItemView) {
  const usage = item.usage ?? { inputTokens: 0, outputTokens: 0 };
  return {
    route: item.route ? { target: item.route.target, provider: item.route.provider, model: item.route.model } : null,
    usage: {
      prompt_tokens: usage.inputTokens,
      completion_tokens: usage.outputTokens,
      total_tokens: usage.inputTokens + usage.outputTokens,
    },
    cost_usd: item.costUsd ?? 0,
  };
}

/** The item's own fault: sent again as it is, it fails again (OpenAI answers these 4xx). */
const REQUEST_FAULTS: Readonly<Record<string, number>> = {
  bad_request: 400,
  client_error: 400,
  context_exceeded: 400,
  /** A local model's: the prompt and its limit do not fit its context. */
  context_overflow: 400,
  schema_unsupported: 400,
  too_large: 413,
};
const OUTAGES: Readonly<Record<string, number>> = { rate_limited: 429, connection: 502, timeout: 504 };

/**
 * The HTTP status an error-file line gives a failed item, as OpenAI's give the status its request got: a
 * refusal is a 4xx (tooling that resubmits 5xx lines leaves it alone), a provider that stayed down through
 * every retry a 429 or 5xx, anything else (answers that failed every check, an unknown cause) a 500.
 */
export function failureStatus(errorCode: string | null): { status: number; type: string } {
  const refused = errorCode === null ? undefined : REQUEST_FAULTS[errorCode];
  if (refused !== undefined) return { status: refused, type: 'invalid_request_error' };
  const outage = errorCode === null ? undefined : OUTAGES[errorCode];
  if (outage === 429) return { status: 429, type: 'rate_limit_error' };
  return { status: outage ?? 500, type: 'server_error' };
}

/** A line the input file held that was never run, as the error file reports it. */
export function invalidLine(rec: OpenAIBatchRecord, e: LineError): object {
  return {
    // OpenAI's request ids read `batch_req_<id>`: the batch's own id without its `batch_` prefix.
    id: `batch_req_${rec.id.replace(/^batch_/, '')}_line_${e.line}`,
    custom_id: e.customId,
    response: null,
    error: { code: e.code, message: `line ${e.line}: ${e.message}`, param: e.param, line: e.line },
  };
}
