import { z } from 'zod';
import { newKeySchema, SCOPES } from '#libs/access';
import { AUDIT_KINDS } from '#libs/audit';
import {
  batchLineSchema,
  batchSubmissionSchema,
  CHAT_ENDPOINT,
  MAX_DEADLINE_DAYS,
  MAX_EXPIRES_AFTER_S,
  MIN_EXPIRES_AFTER_S,
  type OpenAIBatch,
  type SubmissionLimits,
} from '#libs/batches';
import { BATCH_KINDS, ITEM_STATUSES, SENSITIVITY_LEVELS } from '#libs/domain';
import { scheduleSchema, type ScheduleRules } from '#libs/schedules';

/** A JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) as a plain object. */
export type JsonSchema = Record<string, unknown>;

/**
 * Request bodies, named as the document's components: each is the zod schema the API validates that body with,
 * turned into JSON Schema by zod itself, so the document cannot say something the validator does not. What a
 * zod refinement checks (a classify task needs labels, deadline forms, a cron pattern) has no JSON Schema form:
 * it is left out here and still answered as a 400 naming the field.
 */
export const REQUEST_SCHEMA_NAMES = [
  'BatchSubmission',
  'ScheduleSubmission',
  'NewKey',
  'RepositoryRegistration',
  'OpenAIBatchCreate',
  'OpenAIFileUpload',
  // Not a body itself: one line of the file OpenAIFileUpload carries, as each is checked.
  'OpenAIBatchLine',
] as const;
export type RequestSchemaName = (typeof REQUEST_SCHEMA_NAMES)[number];

export interface RequestLimits {
  submission: SubmissionLimits;
  schedules: ScheduleRules;
  /** The requests one OpenAI batch input file may hold (OPENAI_BATCH_MAX_LINES). */
  openAIMaxLines: number;
}

export function requestSchemas(limits: RequestLimits): Record<RequestSchemaName, JsonSchema> {
  return {
    BatchSubmission: jsonSchemaOf(batchSubmissionSchema(limits.submission), 'input'),
    ScheduleSubmission: withBatchTemplate(jsonSchemaOf(scheduleSchema(limits.schedules), 'input')),
    NewKey: jsonSchemaOf(newKeySchema, 'input'),
    // RepositoryRegistry.register checks these two fields by hand (the path must be a git repository's root on
    // this host, which no schema can say); other fields are ignored, not refused.
    RepositoryRegistration: jsonSchemaOf(
      z.object({
        root: z.string().meta({ description: 'Absolute path of a git repository root on the API host' }),
        tenant: z
          .string()
          .min(1)
          .nullable()
          .optional()
          .meta({ description: 'One tenant; absent or null: every tenant' }),
      }),
      'input',
    ),
    OpenAIBatchCreate: jsonSchemaOf(openAIBatchCreate, 'input'),
    OpenAIFileUpload: jsonSchemaOf(openAIFileUpload(limits.openAIMaxLines), 'input'),
    OpenAIBatchLine: jsonSchemaOf(batchLineSchema(limits.submission), 'input'),
  };
}

/**
 * POST /openai/v1/batches, as OpenAIBatches.createBatch checks it field by field (in OpenAI's error shape, so
 * it has no zod schema to share): fields OpenAI takes and Switchyard does not use are ignored, not refused.
 */
const openAIBatchCreate = z
  .object({
    input_file_id: z.string().meta({ description: 'An uploaded file’s id (POST /openai/v1/files, purpose "batch")' }),
    endpoint: z.literal(CHAT_ENDPOINT).meta({ description: 'The only endpoint a batch runs' }),
    completion_window: z
      .string()
      .regex(/^\s*\d{1,6}[smhd]\s*$/)
      .meta({
        description: `Every request's deadline from now: "24h" as OpenAI takes it, or any duration of s, m, h or d from a minute to ${MAX_DEADLINE_DAYS} days ("5m", "72h", "7d")`,
      }),
    metadata: z.record(z.string().max(64), z.string().max(512)).nullable().optional().meta({
      maxProperties: 16,
      description:
        'Kept and answered back; `sensitivity` (a sensitivity level, default OPENAI_BATCH_SENSITIVITY) and `model` (a local model) also route the batch',
    }),
  })
  .meta({ description: 'An OpenAI batch: every line of the file a chat-completions request' });

/** POST /openai/v1/files: a multipart form, as the openai SDKs send it (files.create). */
function openAIFileUpload(maxLines: number) {
  return z.object({
    file: z.string().meta({
      contentMediaType: 'application/octet-stream',
      description:
        'JSONL: one request a line, each an OpenAIBatchLine (`{custom_id, method: "POST", url: ' +
        '"/v1/chat/completions", body}`, body a chat-completions request); a line that does not fit is not run and ' +
        `goes to the batch's error file. At most ${maxLines} lines (OPENAI_BATCH_MAX_LINES), OPENAI_FILE_MAX_BYTES`,
    }),
    purpose: z.literal('batch').meta({ description: 'The only purpose this API takes' }),
    expires_after: z
      .object({
        anchor: z.literal('created_at'),
        seconds: z.int().min(MIN_EXPIRES_AFTER_S).max(MAX_EXPIRES_AFTER_S),
      })
      .optional()
      .meta({
        description:
          'OpenAI’s expiration policy (sent as `expires_after[anchor]` and `expires_after[seconds]`): the upload is ' +
          'deleted that long after it was made, or at RESULT_TTL if that comes first',
      }),
  });
}

const iso = z.string().meta({ format: 'date-time' });
const sensitivity = z.enum(SENSITIVITY_LEVELS);
const target = z.enum(['local', 'cloud']);
const usage = z.object({ inputTokens: z.number(), outputTokens: z.number() });
const route = z.object({ target, provider: z.string(), model: z.string(), reason: z.string() });

const batchView = z.object({
  id: z.string(),
  kind: z.enum(BATCH_KINDS),
  status: z
    .enum(['validating', 'queued', 'running', 'completed', 'partial', 'failed', 'cancelled'])
    .meta({ description: '`validating`: accepted, its items not written yet (INTAKE_DEFER_ITEMS)' }),
  counts: z.object({ total: z.number().int(), ...Object.fromEntries(ITEM_STATUSES.map((s) => [s, z.number().int()])) }),
  sensitivity,
  deadline: iso,
  routes: z.object({ local: z.number().int(), cloud: z.number().int() }),
  usage,
  cost: z.object({ usd: z.number() }),
  budget: z
    .object({ maxUsd: z.number(), spentUsd: z.number(), reservedUsd: z.number(), reached: z.boolean() })
    .nullable(),
  createdAt: iso,
  finishedAt: iso.nullable(),
  tenant: z.string().nullable(),
  output: z
    .object({
      branch: z.string(),
      base: z.string(),
      status: z.enum(['pending', 'written', 'failed']),
      commit: z.string().nullable(),
      files: z.number().int(),
      notWritten: z.array(z.string()),
      error: z.string().nullable(),
    })
    .nullable(),
  origin: z.object({ schedule: z.string(), skippedUnchanged: z.number().int() }).nullable(),
  estimatedFinishAt: iso
    .nullable()
    .meta({ description: 'Latest routing estimate among its open items; null once finished' }),
  callback: z.object({ url: z.string(), events: z.array(z.enum(['batch.finished', 'item.finished'])) }).nullable(),
  errors: z
    .array(z.object({ field: z.string(), message: z.string() }))
    .optional()
    .meta({ description: 'Only on a batch that failed before any item existed: what its validation refused' }),
});

/** A chat item's answer in /results, as the chat-completions API gives it (libs/batches chatCompletionOf). */
const chatCompletion = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.number().int(),
        message: z.object({ role: z.literal('assistant'), content: z.string().nullable(), refusal: z.null() }),
        logprobs: z.null(),
        finish_reason: z.string(),
      }),
    ),
    usage: z.object({
      prompt_tokens: z.number().int(),
      completion_tokens: z.number().int(),
      total_tokens: z.number().int(),
    }),
    switchyard: z.object({
      route: z.object({ target: z.string(), provider: z.string(), model: z.string() }).nullable(),
      cost_usd: z.number().nullable(),
    }),
  })
  .meta({ description: 'A chat.completion, with where it ran and what it cost alongside' });

const itemView = z.object({
  id: z.string(),
  index: z.number().int(),
  status: z.enum(ITEM_STATUSES),
  sensitivity,
  pii: z.object({ declared: sensitivity, categories: z.array(z.string()), raised: z.boolean() }).nullable(),
  route: route.nullable(),
  routeHistory: z.array(route.extend({ at: iso })),
  usage: usage.nullable(),
  costUsd: z.number().nullable(),
  result: z.string().nullable(),
  diff: z.string().nullable(),
  error: z.string().nullable(),
  errorCode: z.string().nullable().meta({
    description:
      "Why a failed item failed, as a code: a provider's refusal (bad_request, context_exceeded, too_large, client_error; model_refused: the model declined it), its failure once retries ran out (server_error, timeout, connection, rate_limited, ...), or Switchyard's own checks (output_check_failed, schema_unsupported); null otherwise.",
  }),
  attempts: z.number().int(),
  ruledOut: z.array(z.object({ target, provider: z.string(), reason: z.string() })),
  failedMoves: z.number().int(),
  deferredAt: iso.nullable().meta({
    description:
      'When the escalation watchdog put this late item behind items that could still make their deadlines (nothing could take it: restricted, pinned, or every cleared cloud provider failing); null: never.',
  }),
  usageEstimated: z.boolean().meta({
    description:
      'A provider answered some call of this item without reporting its usage (or part of it): usage and costUsd count those calls at their bound, what they could have been billed at most.',
  }),
  startedAt: iso.nullable(),
  finishedAt: iso.nullable(),
});

const scheduleView = z.object({
  name: z.string(),
  cron: z.string().nullable(),
  tz: z.string().nullable(),
  every: z.number().int().nullable(),
  batch: z.record(z.string(), z.unknown()),
  createdAt: iso,
  tenant: z.string().nullable(),
  ownerKeyId: z.string().nullable(),
  nextRunAt: iso.nullable(),
  runs: z.array(
    z.object({
      slot: iso,
      firedAt: iso,
      batchId: z.string().nullable(),
      submitted: z.number().int().optional(),
      skippedUnchanged: z.number().int(),
      skipped: z.string().optional(),
      error: z.string().optional(),
    }),
  ),
});

const keyView = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(z.enum(SCOPES)),
  tenant: z.string(),
  createdAt: iso,
  expiresAt: iso.nullable(),
  revokedAt: iso.nullable(),
  limits: z.object({ requestsPerMinute: z.number().int().optional(), tokensPerMinute: z.number().int().optional() }),
  status: z.enum(['active', 'expired', 'revoked']),
});

const auditEntry = z.object({
  id: z.string().meta({ description: 'Stream id, the cursor to page with' }),
  kind: z.enum(AUDIT_KINDS),
  batchId: z.string(),
  index: z.number().int(),
  itemId: z.string().optional(),
  target,
  provider: z.string(),
  model: z.string().optional().meta({ description: 'Egress entries: the model the request named' }),
  clearance: sensitivity.optional(),
  onPremises: z.boolean().optional(),
  sensitivity,
  reason: z.string().optional(),
  attempt: z.number().int().optional(),
  at: iso,
});

const repository = z.object({ id: z.string(), root: z.string(), tenant: z.string().nullable(), createdAt: iso });

const epochSeconds = z.number().int().meta({ description: 'Unix seconds, as OpenAI gives times' });
const openAIFile = z.looseObject({
  id: z.string(),
  object: z.literal('file'),
  bytes: z.number().int(),
  created_at: epochSeconds,
  filename: z.string(),
  purpose: z.string(),
  status: z.string(),
  expires_at: epochSeconds.nullable().meta({ description: 'When the upload is deleted (RESULT_TTL); null: kept' }),
});

const openAIBatch = z
  .looseObject({
    id: z.string(),
    object: z.literal('batch'),
    endpoint: z.string(),
    errors: z
      .object({
        object: z.literal('list'),
        data: z.array(
          z.looseObject({
            code: z.string(),
            message: z.string(),
            param: z.string().nullable(),
            line: z.number().int().nullable(),
          }),
        ),
      })
      .nullable(),
    input_file_id: z.string(),
    completion_window: z.string(),
    status: z.enum([
      'validating',
      'failed',
      'in_progress',
      'finalizing',
      'completed',
      'expired',
      'cancelling',
      'cancelled',
    ] satisfies Array<OpenAIBatch['status']>),
    output_file_id: z.string().nullable(),
    error_file_id: z.string().nullable(),
    created_at: epochSeconds,
    expires_at: epochSeconds,
    ...Object.fromEntries(
      [
        'in_progress_at',
        'finalizing_at',
        'completed_at',
        'failed_at',
        'expired_at',
        'cancelling_at',
        'cancelled_at',
      ].map((k) => [k, epochSeconds.nullable()]),
    ),
    request_counts: z.object({ total: z.number().int(), completed: z.number().int(), failed: z.number().int() }),
    metadata: z.record(z.string(), z.string()).nullable(),
    usage: z
      .object({
        input_tokens: z.number().int(),
        input_tokens_details: z.object({ cached_tokens: z.number().int() }),
        output_tokens: z.number().int(),
        output_tokens_details: z.object({ reasoning_tokens: z.number().int() }),
        total_tokens: z.number().int(),
      })
      .nullable()
      .meta({ description: 'Tokens of the requests so far (cached and reasoning tokens are not tracked: 0)' }),
    model: z.null().meta({ description: 'Each line is routed on its own: the output lines name their models' }),
    switchyard: z
      .looseObject({ batch_id: z.string().nullable(), cost_usd: z.number().nullable() })
      .meta({ description: 'The Switchyard batch underneath: its id, routes, usage and cost' }),
  })
  .meta({ description: 'OpenAI’s Batch object' });

/**
 * What the API answers, by name. The app does not validate its own answers, so these are the one part of the
 * document written by hand: the e2e spec (test/openapi.e2e-spec.ts) checks real answers against them.
 * Admin views whose inner shapes follow the pools and providers libs (memory, prices, circuits) are described
 * by their top-level fields and left open below.
 */
const ANSWERS = {
  Error: z
    .object({
      statusCode: z.number().int(),
      error: z.string().optional(),
      message: z.union([z.string(), z.array(z.string())]).optional(),
      field: z
        .string()
        .optional()
        .meta({ description: 'The field at fault, as a path into the body (items[3].text) or a parameter name' }),
      errors: z
        .array(z.object({ field: z.string(), message: z.string() }))
        .optional()
        .meta({ description: 'Every wrong field, up to 100 (`errorsOmitted` counts the rest)' }),
      errorsOmitted: z.number().int().optional(),
      requiredScope: z.enum(SCOPES).optional(),
      limit: z.string().optional(),
      max: z.number().optional(),
      retryAfterSeconds: z.number().optional(),
    })
    .meta({ description: 'Every 4xx answer: the status, a message and, where one field is at fault, `field`' }),
  BatchAccepted: z.object({
    id: z.string(),
    status: z.enum(['validating', 'queued', 'running', 'completed', 'partial', 'failed', 'cancelled']),
    total: z.number().int(),
  }),
  Quote: z.object({
    total: z.number().int(),
    routes: z.object({ local: z.number().int(), cloud: z.number().int() }),
    atRisk: z.number().int(),
    estimatedCostUsd: z.number(),
    estimatedFinishAt: iso,
  }),
  BatchList: z.object({
    batches: z.array(batchView),
    next: z
      .string()
      .nullable()
      .meta({ description: 'Where this page ends: pass it as `before` for the next one; null when this one is empty' }),
  }),
  Batch: batchView,
  ItemPage: z.object({ items: z.array(itemView), total: z.number().int(), nextOffset: z.number().int().nullable() }),
  ResultLine: itemView
    .pick({ id: true, status: true, route: true, usage: true, costUsd: true, diff: true, error: true })
    .extend({
      result: z.union([z.string(), chatCompletion]).nullable().meta({
        description:
          "The answer: text (a summary, a label, extracted JSON, a file's new content); for a completed chat item, a chat.completion object as the chat-completions API gives it (GET /v1/batches/:id/items keeps it as the stored text)",
      }),
    })
    .meta({ description: 'One line of the NDJSON stream' }),
  BatchCancelled: z.object({ id: z.string(), cancelled: z.number().int(), batch: batchView }),
  BatchErased: z.object({
    id: z.string(),
    erased: z.literal(true),
    items: z.number().int().meta({ description: 'Items deleted, with their results' }),
    jobs: z.number().int().meta({ description: 'Queue jobs deleted (they held the items’ text)' }),
  }),
  Schedule: scheduleView,
  ScheduleList: z.object({ schedules: z.array(scheduleView) }),
  ScheduleDeleted: z.object({ name: z.string(), deleted: z.literal(true) }),
  Key: keyView,
  KeyCreated: keyView.extend({ secret: z.string().meta({ description: 'Answered once; only its hash is stored' }) }),
  KeyList: z.object({ keys: z.array(keyView) }),
  Repository: repository,
  RepositoryList: z.object({ repositories: z.array(repository) }),
  RepositoryRemoved: repository.extend({ removed: z.literal(true) }),
  AuditPage: z.object({ entries: z.array(auditEntry), next: z.string().nullable() }),
  AuditEntry: auditEntry,
  PoolList: z.object({
    pools: z.array(
      z.looseObject({
        id: z.string(),
        target,
        provider: z.string(),
        host: z.string(),
        status: z.string(),
        chatWrapper: z.string().optional().meta({
          description:
            "A node-llama-cpp pool: how it lays prompts out (the chat wrapper's name), as LOCAL_CHAT_WRAPPER pinned or auto matched",
        }),
        sequences: z.object({ max: z.number().int(), active: z.number().int(), busy: z.number().int() }),
        tokensPerSec: z.number().nullable(),
        queueDepth: z.object({ waiting: z.number().int(), active: z.number().int() }).nullable(),
        lastSeen: iso,
      }),
    ),
    coming: z.array(
      z.looseObject({
        id: z.string(),
        model: z.string().nullable(),
        status: z.enum(['loading', 'restarting']),
        since: iso.nullable(),
        expectedReadyAt: iso.nullable(),
      }),
    ),
    gone: z.array(z.looseObject({ id: z.string(), status: z.literal('gone'), lastStatus: z.string(), lastSeen: iso })),
    models: z.array(
      z.looseObject({
        model: z.string(),
        state: z.string(),
        readyAt: iso.nullable(),
        graceUntil: iso.nullable(),
      }),
    ),
  }),
  ProviderList: z.object({
    providers: z.array(
      z.looseObject({
        name: z.string(),
        target,
        model: z.string(),
        clearance: sensitivity,
        available: z.boolean(),
        tokensPerSec: z.number(),
        latencyMs: z.number(),
        backlogTokens: z.number(),
      }),
    ),
    tokenEstimates: z.record(z.string(), z.unknown()),
  }),
  CallbackSecret: z.object({
    secret: z.string().meta({ description: 'HMAC-SHA256 key of the tenant’s callback signatures' }),
  }),
  CallbacksRedelivered: z.object({
    redelivered: z
      .number()
      .int()
      .meta({ description: 'Events whose delivery had given up, sent again from their first attempt' }),
  }),
  Health: z.object({ status: z.literal('ok') }),
  ApiReady: z.object({ status: z.literal('ready'), redis: z.literal(true) }),
  Ready: z.object({
    status: z.literal('ready'),
    redis: z.boolean(),
    pools: z.array(z.object({ target, provider: z.string(), host: z.string(), sequences: z.number().int() })),
  }),
  NotReady: z.looseObject({ statusCode: z.literal(503), status: z.literal('not-ready'), redis: z.boolean() }),
  OpenAIError: z
    .object({
      error: z.object({
        message: z.string(),
        type: z.string().meta({ description: 'invalid_request_error, rate_limit_error or server_error' }),
        param: z.string().nullable().meta({ description: 'The field at fault' }),
        code: z.string().nullable(),
      }),
    })
    .meta({ description: 'Every error answer under /openai/v1, in OpenAI’s shape (what the openai SDKs raise from)' }),
  OpenAIBatch: openAIBatch,
  OpenAIBatchList: z.object({
    object: z.literal('list'),
    data: z.array(openAIBatch),
    first_id: z.string().nullable(),
    last_id: z.string().nullable(),
    has_more: z.boolean(),
  }),
  OpenAIFile: openAIFile,
  OpenAIFileList: z.object({
    object: z.literal('list'),
    data: z.array(openAIFile),
    first_id: z.string().nullable(),
    last_id: z.string().nullable(),
    has_more: z.boolean(),
  }),
  OpenAIFileDeleted: z.object({ id: z.string(), object: z.literal('file'), deleted: z.literal(true) }),
  OpenApiDocument: z.looseObject({ openapi: z.string() }).meta({ description: 'This document' }),
} satisfies Record<string, z.ZodType>;

export type AnswerSchemaName = keyof typeof ANSWERS;
export type SchemaName = RequestSchemaName | AnswerSchemaName;

export function answerSchemas(): Record<AnswerSchemaName, JsonSchema> {
  return Object.fromEntries(
    Object.entries(ANSWERS).map(([name, schema]) => [name, jsonSchemaOf(schema, 'output')]),
  ) as Record<AnswerSchemaName, JsonSchema>;
}

/**
 * A schedule's own schema takes `batch` as any object; ScheduleService then checks it with the batch schema
 * (checkSubmissionCompiled), so the document says so by reference rather than by a copy.
 */
function withBatchTemplate(schedule: JsonSchema): JsonSchema {
  const batch = {
    $ref: '#/components/schemas/BatchSubmission',
    description: 'A batch body as POST /v1/batches takes it; its deadline a duration from each firing, no output',
  };
  return { ...schedule, properties: { ...(schedule.properties as Record<string, JsonSchema>), batch } };
}

/** zod's JSON Schema without its `$schema` line: OpenAPI 3.1's dialect is already 2020-12. */
function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, target: 'draft-2020-12' });
  return rest;
}
