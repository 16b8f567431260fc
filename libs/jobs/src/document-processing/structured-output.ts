import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import type { DocumentTask } from '#libs/domain';
import { unwrapCodeFence } from '../code-migration/code-fence.js';
import { jsonSyntaxError, lineAndColumnAt } from '../code-migration/json-syntax-error.js';

export type StructuredAnswer =
  /** `stored` is the text to store: for JSON, it parses back to `value`, which matches the schema. */
  | { ok: true; value: unknown; stored: string }
  /** `message` names the JSON path that failed ("$.items[2].price: must be number"). */
  | { ok: false; message: string };

/** The task's schema cannot be checked here: a fault of the task, not of the answer, so retrying will not help. */
export class UnsupportedSchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedSchemaError';
  }
}

const MAX_ISSUES_REPORTED = 3;

/**
 * The JSON Schema an answer must match, for constrained decoding (OpenAI `response_format`,
 * node-llama-cpp's JSON-schema grammar) and for `validateStructured`. Null for summarize: free text.
 */
export function jsonSchemaForTask(task: DocumentTask): Record<string, unknown> | null {
  switch (task.type) {
    case 'classify':
      return {
        type: 'object',
        properties: { label: { enum: task.labels ?? [] } },
        required: ['label'],
        additionalProperties: false,
      };
    case 'extract':
      return task.schema ?? {};
    case 'summarize':
      return null;
  }
}

// Compiled once per task object: a job validates its retries against the same task.
const compiled = new WeakMap<DocumentTask, ValidateFunction>();

/**
 * Draft 2020-12, the draft OpenAI's `response_format` json_schema follows (it accepts a subset of it;
 * ajv checks the whole draft, so a schema the cloud would refuse is still checked here). `allErrors`
 * to report several issues at once; `strict: false` so a user's schema with keywords ajv does not know
 * (`title` variants, vendor extensions) is checked rather than refused. `format` is asserted (ajv-formats).
 */
const ajv = new Ajv2020({ allErrors: true, strict: false });
ajvFormats.default(ajv);

/**
 * Parses a classify or extract answer and checks it against `jsonSchemaForTask` with ajv (JSON Schema
 * draft 2020-12, `format` asserted). A Markdown fence around the JSON is removed. A classify answer may
 * also be the bare label the single-document prompt asks for. A summarize answer is its trimmed text.
 *
 * Throws UnsupportedSchemaError when the task's schema cannot be compiled or checking an answer throws.
 */
export function validateStructured(task: DocumentTask, text: string): StructuredAnswer {
  if (task.type === 'summarize') return { ok: true, value: text.trim(), stored: text.trim() };
  const validate = validatorOf(task);
  const unwrapped = unwrapCodeFence(text.trim());
  if (unwrapped.kind === 'unclosed')
    return { ok: false, message: 'the answer opens a Markdown code fence and never closes it' };
  if (unwrapped.kind === 'several')
    return { ok: false, message: 'the answer holds several code blocks; expected one JSON value' };
  const json = unwrapped.text.trim();
  const label = task.type === 'classify' ? bareLabel(task, json) : undefined;
  if (label !== undefined) return storable(validate, { label });
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    return { ok: false, message: `not JSON: ${where(json, error as Error)}` };
  }
  try {
    return storable(validate, value);
  } catch (error) {
    // The checker itself failed (a recursive schema overflowing the stack, from a record older than the
    // intake's refusal of those): the task's fault, not the answer's, so asking again cannot help.
    const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new UnsupportedSchemaError(`the ${task.type} schema could not check the answer: ${why}`);
  }
}

/** What a retry prompt says after a structured answer was rejected with `message`. */
export function structuredFeedback(message: string): string {
  const reason = message.slice(0, 500);
  return `Your previous answer was rejected: ${reason}. Answer again with a JSON object matching the schema only.`;
}

/**
 * The one way a structured answer becomes the text stored for it: only when that text, parsed back,
 * still matches the schema. JSON.parse turns an overflowing number (llama.cpp's grammar allows `9e879`)
 * into Infinity, which ajv accepts as a number and JSON.stringify writes as `null`; a long integer
 * silently loses digits. Both are refused here with their path, like any schema error, and the stored
 * text is validated once more, so a completed item can never hold a value its schema rejects.
 */
function storable(validate: ValidateFunction, value: unknown): StructuredAnswer {
  const issues = [...unrepresentableNumbers(value), ...schemaIssues(validate, value)];
  if (issues.length > 0) return rejected(issues);
  const stored = JSON.stringify(value);
  const parsed: unknown = JSON.parse(stored);
  if (!validate(parsed)) return rejected(schemaIssues(validate, parsed).map((issue) => `as stored, ${issue}`));
  return { ok: true, value: parsed, stored };
}

function schemaIssues(validate: ValidateFunction, value: unknown): string[] {
  return validate(value) ? [] : (validate.errors ?? []).map((error) => describe(error, value));
}

function rejected(issues: readonly string[]): StructuredAnswer {
  const unique = [...new Set(issues)];
  const more = unique.length - MAX_ISSUES_REPORTED;
  return { ok: false, message: unique.slice(0, MAX_ISSUES_REPORTED).join('; ') + (more > 0 ? ` (+${more} more)` : '') };
}

/** Numbers JSON text cannot hold as given: non-finite (overflowed), or integers past 2^53 (digits lost). */
function unrepresentableNumbers(value: unknown, path: PropertyKey[] = []): string[] {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return [`${jsonPath(path)}: number overflows (not finite)`];
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
      return [`${jsonPath(path)}: integer outside the safe range (±2^53−1)`];
    }
    return [];
  }
  if (Array.isArray(value)) return value.flatMap((item, i) => unrepresentableNumbers(item, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) => unrepresentableNumbers(item, [...path, key]));
  }
  return [];
}

/**
 * Why a JSON Schema cannot be used to check answers, or null when it can: for refusing an extract
 * task at submission rather than failing each of its items.
 */
export function schemaProblem(schema: Record<string, unknown>): string | null {
  try {
    compile(schema);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

function validatorOf(task: DocumentTask): ValidateFunction {
  let validate = compiled.get(task);
  if (!validate) {
    try {
      validate = compile(jsonSchemaForTask(task)!);
    } catch (error) {
      throw new UnsupportedSchemaError(`the ${task.type} schema cannot be checked: ${(error as Error).message}`);
    }
    compiled.set(task, validate);
  }
  return validate;
}

/**
 * The compiled function outlives its schema's entry in the shared instance: removing the entry keeps a
 * long-running worker from holding every schema it ever saw, and lets two tasks use the same `$id`.
 */
function compile(schema: Record<string, unknown>): ValidateFunction {
  try {
    return ajv.compile(schema);
  } finally {
    ajv.removeSchema(schema);
  }
}

/** A classify answer given as a bare label (or a JSON string) rather than {"label": …}. */
function bareLabel(task: DocumentTask, answer: string): string | undefined {
  const unquoted = /^"[^"\\]*"$/.test(answer) ? answer.slice(1, -1) : answer;
  return (task.labels ?? []).find((label) => label === unquoted || `${label}.` === unquoted);
}

function where(json: string, error: Error): string {
  const located = jsonSyntaxError(json);
  if (!located) return error.message;
  const { line, column } = lineAndColumnAt(json, located.offset);
  return `line ${line}:${column}: ${located.message}`;
}

function describe(error: ErrorObject, value: unknown): string {
  const path = pathOf(error.instancePath, value);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
    case 'dependentRequired':
      return `${jsonPath([...path, String(params.missingProperty)])}: required property missing`;
    case 'additionalProperties':
      return `${jsonPath([...path, String(params.additionalProperty)])}: property not allowed`;
    case 'unevaluatedProperties':
      return `${jsonPath([...path, String(params.unevaluatedProperty)])}: property not allowed`;
    case 'enum':
      return `${jsonPath(path)}: must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join('|')}`;
    default:
      return `${jsonPath(path)}: ${error.message ?? `fails "${error.keyword}"`}`;
  }
}

/** ajv's JSON Pointer ("/items/2/price") as keys, a segment an index where the answer holds an array. */
function pathOf(pointer: string, value: unknown): PropertyKey[] {
  if (!pointer) return [];
  let at = value;
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => {
      const key = segment.replace(/~1/g, '/').replace(/~0/g, '~');
      const step: PropertyKey = Array.isArray(at) && /^\d+$/.test(key) ? Number(key) : key;
      at = at !== null && typeof at === 'object' ? (at as Record<PropertyKey, unknown>)[step] : undefined;
      return step;
    });
}

/** "$", "$.items[2].price", '$["a key"]'. */
function jsonPath(path: readonly PropertyKey[]): string {
  return (
    '$' +
    path
      .map((key) =>
        typeof key === 'number'
          ? `[${key}]`
          : typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)
            ? `.${key}`
            : `[${JSON.stringify(String(key))}]`,
      )
      .join('')
  );
}
