import { z } from 'zod';
import type { DocumentTask } from '#libs/batches/src/batch-types.js';
import { unwrapCodeFence } from '../code-migration/code-fence.js';
import { jsonSyntaxError, lineAndColumnAt } from '../code-migration/json-syntax-error.js';

export type StructuredAnswer =
  | { ok: true; value: unknown }
  /** `message` names the JSON path that failed ("$.items[2].price: Invalid input: expected number, received string"). */
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
      return { type: 'object', properties: { label: { enum: task.labels ?? [] } }, required: ['label'], additionalProperties: false };
    case 'extract':
      return task.schema ?? {};
    case 'summarize':
      return null;
  }
}

// Compiled once per task object: a job validates its retries against the same task.
const compiled = new WeakMap<DocumentTask, z.ZodType>();

/**
 * Parses a classify or extract answer and checks it against `jsonSchemaForTask` (zod's JSON Schema
 * reader: no if/then/else, not, unevaluated* or dependent* keywords; `format` is asserted). A Markdown
 * fence around the JSON is removed. A classify answer may also be the bare label the single-document
 * prompt asks for. A summarize answer is its trimmed text.
 *
 * Throws UnsupportedSchemaError when the task's schema uses what cannot be checked.
 */
export function validateStructured(task: DocumentTask, text: string): StructuredAnswer {
  if (task.type === 'summarize') return { ok: true, value: text.trim() };
  const schema = schemaOf(task);
  const unwrapped = unwrapCodeFence(text.trim());
  if (unwrapped.kind === 'unclosed') return { ok: false, message: 'the answer opens a Markdown code fence and never closes it' };
  if (unwrapped.kind === 'several') return { ok: false, message: 'the answer holds several code blocks; expected one JSON value' };
  const json = unwrapped.text.trim();
  const label = task.type === 'classify' ? bareLabel(task, json) : undefined;
  if (label !== undefined) return { ok: true, value: { label } };
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    return { ok: false, message: `not JSON: ${where(json, error as Error)}` };
  }
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value };
  const issues = result.error.issues.flatMap((issue) => describe(issue, value));
  const more = issues.length - MAX_ISSUES_REPORTED;
  return { ok: false, message: issues.slice(0, MAX_ISSUES_REPORTED).join('; ') + (more > 0 ? ` (+${more} more)` : '') };
}

function schemaOf(task: DocumentTask): z.ZodType {
  let schema = compiled.get(task);
  if (!schema) {
    try {
      schema = z.fromJSONSchema(jsonSchemaForTask(task)! as Parameters<typeof z.fromJSONSchema>[0]);
    } catch (error) {
      throw new UnsupportedSchemaError(`the ${task.type} schema cannot be checked: ${(error as Error).message}`);
    }
    compiled.set(task, schema);
  }
  return schema;
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

function describe(issue: z.core.$ZodIssue, value: unknown): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${jsonPath([...issue.path, key])}: property not allowed`);
  }
  if (valueAt(value, issue.path) === undefined && issue.path.length > 0) return [`${jsonPath(issue.path)}: required property missing`];
  return [`${jsonPath(issue.path)}: ${issue.message}`];
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let at = value;
  for (const key of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return at;
}

/** "$", "$.items[2].price", '$["a key"]'. */
function jsonPath(path: readonly PropertyKey[]): string {
  return (
    '$' +
    path
      .map((key) => (typeof key === 'number' ? `[${key}]` : typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(String(key))}]`))
      .join('')
  );
}
