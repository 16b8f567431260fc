import { z } from 'zod';
import { CALLBACK_EVENTS, SENSITIVITY_LEVELS, fieldErrors, type FieldError } from '#libs/domain';
import { CallbackAddressGuard, callbackUrlProblem } from '#libs/callbacks';
import { DOCUMENT_TASK_TYPES, MIGRATION_PRESETS, type BatchSubmission } from '#libs/domain';
import { parseDeadline } from './deadline.js';
import { repositoryFieldErrors } from './repository-fields.js';
import { chatBodySchema } from './chat-submission.js';
import { wrongType } from './type-error.js';
import { IDENTIFIER } from '#libs/jobs';
import { MAX_SCHEMA_BYTES, schemaRefusal } from '#libs/jobs';
import { compileProblem } from '#libs/jobs';
import type { PiiRules } from '#libs/privacy';

export interface SubmissionLimits {
  maxItems: number;
  /** Most UTF-8 bytes one item's text or content may hold (MAX_ITEM_BYTES); absent: no limit. */
  maxItemBytes?: number;
  maxOutputTokens: number;
  /** Names of the configured local models an item or batch may pin itself to. */
  localModels: string[];
  /** Personal data that raises an item's sensitivity floor; absent: defaults. */
  piiRules?: PiiRules;
  /** Which internal addresses a callback URL may name (CALLBACK_ALLOWED_NETWORKS); absent: none. */
  callbackGuard?: CallbackAddressGuard;
}

const NO_INTERNAL_CALLBACKS = new CallbackAddressGuard();

export type SubmissionCheck =
  { ok: true; submission: BatchSubmission; deadlineAt: number } | { ok: false; errors: FieldError[] };

const text = z.string(wrongType('must be a string'));
const nonEmpty = text.min(1, 'must not be empty');
/** A classify task's labels: each a category name, not a document. */
const MAX_LABELS = 1000;
const MAX_LABEL_CHARS = 200;
const identifier = z
  .string({ error: 'must be a string: a JavaScript identifier' })
  .regex(IDENTIFIER, 'must be a JavaScript identifier such as fetchUser');

/**
 * The batch body as zod checks it, for these limits. Exported so the API's OpenAPI document is generated from
 * the very schema intake validates with (issue 15 §4); what refinements add (classify needs labels, deadline
 * forms, duplicate ids) is not expressible in JSON Schema and stays in the 400s.
 */
export function batchSubmissionSchema(limits: SubmissionLimits) {
  const maxTokens = z.number().int('must be an integer').min(1).max(limits.maxOutputTokens).optional();
  const model = z
    .string({ error: 'must be a string' })
    .refine((m) => limits.localModels.includes(m), {
      message: `must be one of the local models: ${limits.localModels.join(', ')}`,
    })
    .optional();
  const common = {
    model,
    maxCostUsd: z.number(wrongType('must be a number')).positive('must be greater than 0').optional(),
    sensitivity: z.enum(SENSITIVITY_LEVELS, { error: `must be one of ${SENSITIVITY_LEVELS.join(', ')}` }),
    deadline: nonEmpty,
    callback: z
      .strictObject(
        {
          url: z.string({ error: 'must be a string: an http or https URL' }).superRefine((url, ctx) => {
            const problem = callbackUrlProblem(url, limits.callbackGuard ?? NO_INTERNAL_CALLBACKS);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          }),
          events: z
            .array(z.enum(CALLBACK_EVENTS, { error: `must each be one of ${CALLBACK_EVENTS.join(', ')}` }), {
              error: `must be an array of ${CALLBACK_EVENTS.join(', ')}`,
            })
            .min(1, 'needs at least one event (or leave it out for batch.finished)')
            .optional(),
        },
        { error: 'must be an object such as {"url": "https://example.com/hooks"}' },
      )
      .optional(),
  };
  // Every object is strict: an unknown field is a 400 naming it. A misspelled `sensitivty`, or an
  // `items[0].sensitivity` this API does not have, was silently dropped and the item sent as public (issue 13 §4).
  const documents = z.strictObject({
    ...common,
    kind: z.literal('document-processing'),
    task: z
      .strictObject({
        type: z.enum(DOCUMENT_TASK_TYPES, { error: `must be one of ${DOCUMENT_TASK_TYPES.join(', ')}` }),
        // Every label goes into every item's prompt and becomes the answer schema's enum (a grammar locally): held
        // to what an extract schema may be, so that a list of 100,000 is refused, not sent with each item.
        labels: z
          .array(nonEmpty.max(MAX_LABEL_CHARS))
          .min(2, 'needs at least two labels')
          .max(MAX_LABELS, `holds at most ${MAX_LABELS} labels`)
          .refine((labels) => new Set(labels).size === labels.length, 'must be distinct: an answer names one label')
          .refine(
            (labels) => Buffer.byteLength(JSON.stringify(labels)) <= MAX_SCHEMA_BYTES,
            `hold at most ${MAX_SCHEMA_BYTES} bytes as JSON, as an extract schema does`,
          )
          .optional(),
        schema: z.record(z.string(), z.unknown(), { error: 'must be a JSON Schema object' }).optional(),
        instructions: text.max(4000).optional(),
        maxTokens,
      })
      .superRefine((task, ctx) => {
        if (task.type === 'classify' && !task.labels)
          ctx.addIssue({ code: 'custom', path: ['labels'], message: 'is required for classify' });
        if (task.type === 'extract' && !task.schema)
          ctx.addIssue({ code: 'custom', path: ['schema'], message: 'is required for extract' });
        // Taken only by the type that reads it: a summarize given labels would ignore them without a word.
        if (task.labels && task.type !== 'classify')
          ctx.addIssue({ code: 'custom', path: ['labels'], message: 'is taken only with type classify' });
        if (task.schema && task.type !== 'extract')
          ctx.addIssue({ code: 'custom', path: ['schema'], message: 'is taken only with type extract' });
        // Refused here rather than failing every item: answers are checked against it with ajv. Only what a
        // linear walk can tell (size, regexes, recursion); checkSubmissionCompiled compiles it off the event loop.
        const refusal = task.type === 'extract' && task.schema ? schemaRefusal(task.schema) : null;
        if (refusal) ctx.addIssue({ code: 'custom', path: ['schema'], message: `is refused: ${refusal}` });
      }),
    items: z
      .array(z.strictObject({ id: nonEmpty.max(512), text: nonEmpty, model }), { error: 'must be an array' })
      .min(1, 'needs at least one item')
      .max(limits.maxItems, `holds at most ${limits.maxItems} items`),
  });
  const code = z
    .strictObject({
      ...common,
      kind: z.literal('code-migration'),
      task: z
        .strictObject({
          instruction: nonEmpty.max(8000).optional(),
          preset: z.enum(MIGRATION_PRESETS, { error: `must be one of ${MIGRATION_PRESETS.join(', ')}` }).optional(),
          params: z
            .strictObject(
              { from: identifier, to: identifier },
              { error: 'must be an object such as {"from": "oldName", "to": "newName"}' },
            )
            .optional(),
          maxTokens,
        })
        .superRefine((task, ctx) => {
          if (!task.instruction && !task.preset)
            ctx.addIssue({
              code: 'custom',
              path: ['instruction'],
              message: `give an instruction, a preset (${MIGRATION_PRESETS.join(', ')}), or both`,
            });
          if (task.preset === 'rename-api' && !task.params)
            ctx.addIssue({
              code: 'custom',
              path: ['params'],
              message: 'is required for rename-api: {"from": "oldName", "to": "newName"}',
            });
          if (task.params && task.preset !== 'rename-api')
            ctx.addIssue({ code: 'custom', path: ['params'], message: 'is taken only with the rename-api preset' });
          if (task.params && task.params.from === task.params.to)
            ctx.addIssue({ code: 'custom', path: ['params', 'to'], message: 'must differ from params.from' });
        }),
      items: z
        .array(z.strictObject({ path: nonEmpty.max(1024), content: text, model }), { error: 'must be an array' })
        .min(1, 'needs at least one item')
        .max(limits.maxItems, `holds at most ${limits.maxItems} items`)
        .optional(),
      // A git repository on this host instead of inline files: one item per matching file.
      source: z
        .strictObject({
          repo: nonEmpty.max(4096),
          ref: nonEmpty.max(256).optional(),
          include: z.array(nonEmpty.max(1024)).max(100).optional(),
          exclude: z.array(nonEmpty.max(1024)).max(100).optional(),
        })
        .optional(),
      // The migrated files as a new branch of the source repository, written when the batch finishes.
      output: z
        .strictObject({ branch: nonEmpty.max(255) }, { error: 'must be an object such as {"branch": "migrate/esm"}' })
        .optional(),
    })
    .superRefine((b, ctx) => {
      if ((b.items === undefined) === (b.source === undefined))
        ctx.addIssue({ code: 'custom', path: ['items'], message: 'give exactly one of items or source' });
      if (b.output && !b.source)
        ctx.addIssue({
          code: 'custom',
          path: ['output', 'branch'],
          message: 'needs a repository source (source.repo) to branch from',
        });
    });
  // Chat items (issue 16 §2): each its own chat-completions request; no task, since each body is one.
  const chat = z.strictObject({
    ...common,
    kind: z.literal('chat'),
    items: z
      .array(z.strictObject({ id: nonEmpty.max(512), body: chatBodySchema(limits) }), { error: 'must be an array' })
      .min(1, 'needs at least one item')
      .max(limits.maxItems, `holds at most ${limits.maxItems} items`),
  });
  return z.discriminatedUnion('kind', [documents, code, chat], {
    error: 'must be "document-processing", "code-migration" or "chat"',
  });
}

/**
 * The schema for `limits`, built once per limits object: building it (zod's object, union and refinement
 * constructors) cost 1.5 ms of every POST's CPU, more than checking a one-item body with it (issue 17 §1,
 * `--cpu-prof` of the API under bench:queue's lone items). Intake holds one limits object for its life.
 */
const schemas = new WeakMap<SubmissionLimits, ReturnType<typeof batchSubmissionSchema>>();
function schemaFor(limits: SubmissionLimits): ReturnType<typeof batchSubmissionSchema> {
  let schema = schemas.get(limits);
  if (!schema) schemas.set(limits, (schema = batchSubmissionSchema(limits)));
  return schema;
}

/** Validates a POSTed batch, naming every wrong field. Pure: no I/O. */
export function checkSubmission(body: unknown, limits: SubmissionLimits, now: number): SubmissionCheck {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, errors: [{ field: 'body', message: 'must be a JSON object' }] };
  }
  const parsed = schemaFor(limits).safeParse(body);
  if (!parsed.success) {
    return { ok: false, errors: fieldErrors(parsed.error.issues) };
  }
  const submission = parsed.data as BatchSubmission;
  const errors: FieldError[] = [];
  const deadline = parseDeadline(submission.deadline, now);
  if (!deadline.ok) errors.push({ field: 'deadline', message: deadline.message });
  const field = submission.kind === 'code-migration' ? 'content' : submission.kind === 'chat' ? 'body' : 'text';
  const bodies =
    submission.kind === 'code-migration'
      ? (submission.items ?? []).map((i) => i.content)
      : submission.kind === 'chat'
        ? submission.items.map((i) => JSON.stringify(i.body))
        : submission.items.map((i) => i.text);
  bodies.forEach((body, index) => {
    const bytes = Buffer.byteLength(body, 'utf8');
    if (limits.maxItemBytes !== undefined && bytes > limits.maxItemBytes) {
      errors.push({
        field: `items[${index}].${field}`,
        message: `is ${bytes} bytes; an item holds at most ${limits.maxItemBytes} bytes`,
      });
    }
  });
  const ids =
    submission.kind === 'code-migration'
      ? (submission.items ?? []).map((i) => i.path)
      : submission.items.map((i) => i.id);
  const seen = new Set<string>();
  ids.forEach((id, index) => {
    if (seen.has(id))
      errors.push({
        field: `items[${index}].${submission.kind === 'code-migration' ? 'path' : 'id'}`,
        message: 'is a duplicate within the batch',
      });
    seen.add(id);
  });
  errors.push(...repositoryFieldErrors(submission));
  return errors.length > 0 || !deadline.ok ? { ok: false, errors } : { ok: true, submission, deadlineAt: deadline.at };
}

/**
 * checkSubmission, then an extract schema compiled as the worker will compile it, on a worker thread (ajv
 * generates code synchronously: seconds for a large schema). What intake and schedule creation use.
 */
export async function checkSubmissionCompiled(
  body: unknown,
  limits: SubmissionLimits,
  now: number,
): Promise<SubmissionCheck> {
  const check = checkSubmission(body, limits, now);
  if (!check.ok || check.submission.kind !== 'document-processing' || check.submission.task.type !== 'extract') {
    return check;
  }
  const problem = await compileProblem(check.submission.task.schema ?? {});
  if (problem === null) return check;
  const message = `is not a JSON Schema answers can be checked against: ${problem}`;
  return { ok: false, errors: [{ field: 'task.schema', message }] };
}
