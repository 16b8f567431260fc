import type { RepoSource } from './repo-source.js';
import type { RouteTarget } from './route-target.js';
import type { Sensitivity } from './sensitivity.js';
import type { TokenUsage } from './token-usage.js';

export const BATCH_KINDS = ['document-processing', 'code-migration', 'chat'] as const;
export type BatchKind = (typeof BATCH_KINDS)[number];

export const DOCUMENT_TASK_TYPES = ['summarize', 'classify', 'extract'] as const;
export type DocumentTaskType = (typeof DOCUMENT_TASK_TYPES)[number];

export interface DocumentTask {
  type: DocumentTaskType;
  /** classify: the label set the answer must come from. */
  labels?: string[];
  /** extract: the JSON Schema of the object to extract. */
  schema?: Record<string, unknown>;
  /** Extra guidance appended to the built-in instruction. */
  instructions?: string;
  maxTokens?: number;
}

/** Migrations with a built-in, tested instruction (libs/jobs/src/code-migration/migration-presets.ts). */
export const MIGRATION_PRESETS = ['commonjs-to-esm', 'js-to-ts', 'rename-api'] as const;
export type MigrationPreset = (typeof MIGRATION_PRESETS)[number];

/** rename-api: the identifier to rename and its new name. */
export interface RenameApiParams {
  from: string;
  to: string;
}

/** At least one of `preset` and `instruction`; with both, the instruction is extra guidance to the preset. */
export interface CodeMigrationTask {
  instruction?: string;
  preset?: MigrationPreset;
  /** rename-api only. */
  params?: RenameApiParams;
  maxTokens?: number;
}

/**
 * A chat message as the chat-completions API takes it; content is text (parts of type "text" are joined). No `name`:
 * a local model's chat template has no place for it, so it is refused rather than kept for the cloud only.
 */
export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant';
  content: string;
}

/** response_format of a chat-completions request: free text, any JSON object, or JSON matching a schema. */
export type ChatResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      json_schema: { name: string; schema?: Record<string, unknown>; strict?: boolean | null; description?: string };
    };

/**
 * One chat-completions request, as the OpenAI API takes it (issue 16 §2): the fields Switchyard honours on
 * every provider. Anything else is refused at intake, naming the field, rather than silently dropped.
 */
export interface ChatBody {
  messages: ChatMessage[];
  /** A local model's name pins the item to it; another name is the client's and routing picks the model. */
  model?: string;
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
  stop?: string | string[];
  response_format?: ChatResponseFormat;
}

/** A chat batch has no shared task: each item carries its whole request. `chat: true` tells it from the others. */
export interface ChatTask {
  chat: true;
}

export interface ChatItemInput {
  id: string;
  body: ChatBody;
}

/** What a batch's items are asked to do, by kind. */
export type BatchTask = DocumentTask | CodeMigrationTask | ChatTask;

export interface DocumentItemInput {
  id: string;
  text: string;
  /** Pins this item to a local model (overrides the batch's). */
  model?: string;
}

export interface CodeItemInput {
  path: string;
  content: string;
  model?: string;
}

/** What a callback may be sent for (issue 15 §5): the batch's end, and optionally each item's. */
export const CALLBACK_EVENTS = ['batch.finished', 'item.finished'] as const;
export type CallbackEvent = (typeof CALLBACK_EVENTS)[number];

/** A signed POST to `url` for each of `events` (default: batch.finished only). */
export interface CallbackRequest {
  url: string;
  events?: CallbackEvent[];
}

interface SubmissionCommon {
  sensitivity: Sensitivity;
  deadline: string;
  /** Most the batch may spend; cloud calls reserve their worst case first, and stop at the limit. */
  maxCostUsd?: number;
  /** Pins every item to this local model (a name from LOCAL_MODELS). */
  model?: string;
  /** Where to POST signed events about the batch (docs/api.md#callbacks). */
  callback?: CallbackRequest;
}

/** A repo-source migration may ask for its migrated files as a new branch of the repository. */
export interface BranchOutputRequest {
  branch: string;
}

export type BatchSubmission =
  | (SubmissionCommon & { kind: 'document-processing'; task: DocumentTask; items: DocumentItemInput[] })
  | (SubmissionCommon & {
      kind: 'code-migration';
      task: CodeMigrationTask;
      items?: CodeItemInput[];
      source?: RepoSource;
      output?: BranchOutputRequest;
    })
  | (SubmissionCommon & { kind: 'chat'; items: ChatItemInput[] });

/** What a branch output needs once the batch has finished: where, and on top of which commit. */
export interface BranchOutputSpec {
  branch: string;
  repo: string;
  /** The commit the files were read from. */
  base: string;
}

export type BranchOutputStatus = 'pending' | 'written' | 'failed';

export interface BranchOutputView {
  branch: string;
  base: string;
  status: BranchOutputStatus;
  /** The commit the branch points at, once written. */
  commit: string | null;
  /** Files written to the branch: the completed items' results. */
  files: number;
  /** Paths of the items that did not complete: left as they were on the branch (at most 1000 listed). */
  notWritten: string[];
  error: string | null;
}

/** A batch fired by a schedule: which, and how many files it left out because they had not changed. */
export interface BatchOrigin {
  schedule: string;
  skippedUnchanged: number;
}

export const ITEM_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type ItemStatus = (typeof ITEM_STATUSES)[number];

/**
 * `validating`: accepted, its items not written yet (a large batch a worker expands, issue 17 §2); a batch whose
 * expansion refused its body is `failed` with `errors`.
 */
export type BatchStatus = 'validating' | 'queued' | 'running' | 'completed' | 'partial' | 'failed' | 'cancelled';

export type ItemCounts = Record<ItemStatus, number> & { total: number };

export interface ItemRoute {
  target: RouteTarget;
  provider: string;
  model: string;
  reason: string;
  at: string;
}

/** The unit of work as it travels to a worker: what to run, for whom, under which constraints. */
export interface WorkItem {
  batchId: string;
  index: number;
  /** The user's id for the item (document id or file path). */
  itemId: string;
  kind: BatchKind;
  sensitivity: Sensitivity;
  deadline: number;
  /** Text the model works on: document text or file content. */
  input: string;
  /** File path for code items (helps the model), absent for documents. */
  path?: string;
  /** Local model the item is pinned to, if the submission named one. */
  model?: string;
  /**
   * Its prompt's tokens as a local model's tokenizer counted them at intake (PromptTokens): what every
   * later estimate of the item starts from. Absent where intake had no tokenizer: then estimated.
   */
  inputTokens?: number;
  /**
   * The id of the API request that submitted the batch (X-Request-Id), carried on the item's jobs so the
   * worker's lines about it can be found from the access line. Absent for a schedule's firings.
   */
  requestId?: string;
  /**
   * The answers its calls got in an earlier run on this pool that was preempted: a rerun does not send a call
   * whose exact prompt one of these answered (it was paid, and charged to the item, when it ran). Set on the
   * job only by a preemption; absent otherwise.
   */
  answered?: AnsweredCall[];
}

/** One call's answer kept for a rerun of its item: `key` names the exact request (prompt, limits, schema). */
export interface AnsweredCall {
  key: string;
  text: string;
  model: string;
  finishReason: 'stop' | 'length';
}

/** What PII detection did to an item: the categories found (never the values) and the floor it raised. */
export interface ItemPrivacy {
  declared: Sensitivity;
  categories: string[];
  raised: boolean;
}

export interface BatchView {
  id: string;
  kind: BatchKind;
  status: BatchStatus;
  counts: ItemCounts;
  sensitivity: Sensitivity;
  deadline: string;
  routes: { local: number; cloud: number };
  usage: TokenUsage;
  cost: { usd: number };
  /** Present when the batch set maxCostUsd. `reached`: a cloud call was refused for budget. */
  budget: { maxUsd: number; spentUsd: number; reservedUsd: number; reached: boolean } | null;
  createdAt: string;
  finishedAt: string | null;
  /** The creating API key's tenant; null when created without a key. */
  tenant: string | null;
  /** Code migrations with `output.branch`: the branch and whether it was written. */
  output: BranchOutputView | null;
  /** Batches fired by a schedule. */
  origin: BatchOrigin | null;
  /**
   * When the batch is expected to finish: the latest routing estimate among its open items (each item's
   * estimate made when it was routed at intake; an item that finishes leaves the max). Null once the batch
   * has finished (see finishedAt) or for batches stored without estimates. May lie in the past when late.
   */
  estimatedFinishAt: string | null;
  /** The callback the batch was submitted with (docs/api.md#callbacks). */
  callback: { url: string; events: CallbackEvent[] } | null;
  /** Only on a batch that failed before any item existed: what its validation refused, field by field. */
  errors?: Array<{ field: string; message: string }>;
}

export interface ItemView {
  id: string;
  index: number;
  status: ItemStatus;
  /** The sensitivity the item was handled at: the batch's, or higher when it holds personal data. */
  sensitivity: Sensitivity;
  pii: ItemPrivacy | null;
  route: Omit<ItemRoute, 'at'> | null;
  routeHistory: ItemRoute[];
  usage: TokenUsage | null;
  costUsd: number | null;
  result: string | null;
  /** Code items: the unified diff from the original file to `result` (null when unchanged). */
  diff: string | null;
  error: string | null;
  /**
   * Why a failed item failed, as a code: a provider's refusal (`bad_request`, `context_exceeded`, `too_large`,
   * `client_error`, `model_refused`: the model declined it; a local model's `context_overflow`), its failure once retries ran out (`server_error`, `timeout`, `connection`, `rate_limited`, ...),
   * or Switchyard's own checks (`output_check_failed`, `schema_unsupported`). Null: not failed, or not known.
   */
  errorCode: string | null;
  attempts: number;
  /** Providers this item failed on for good (a refusal, rejected answers): it is never routed there again. */
  ruledOut: Array<{ target: RouteTarget; provider: string; reason: string }>;
  /** Moves after a failure on a provider so far (bounded: past MAX_FAILED_MOVES the item fails). */
  failedMoves: number;
  /**
   * When the escalation watchdog put it behind items that could still make their deadlines: it was late and
   * nothing could take it (restricted, pinned, or every cloud provider cleared for it failing). Null: never.
   */
  deferredAt: string | null;
  /**
   * Some call of the item's was answered by a provider that did not report its usage (or part of it): `usage` and
   * `costUsd` count those calls at their bound, what they could have been billed at most.
   */
  usageEstimated: boolean;
  startedAt: string | null;
  finishedAt: string | null;
}
