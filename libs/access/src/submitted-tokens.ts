import type { CodeMigrationTask, DocumentTask, BatchTask } from '#libs/domain';
import { chatBodyTokens, promptFor } from '#libs/jobs';
import { CHARS_PER_TOKEN, estimateTokens } from '#libs/routing';

/** The parts of a submission a limit counts: what each item's prompt will send. */
export interface SubmittedWork {
  kind?: unknown;
  task?: unknown;
  items?: unknown;
}

/**
 * Tokens a submission will send, estimated the way the router estimates them (~4 characters a token):
 * for every item, its text (documents) or path and content (code), plus the prompt built around it —
 * the system prompt, the template, and the task's `instructions`, `labels` and `schema` (documents) or
 * `instruction`, preset and params (code), which every item's prompt carries again (issue 13 §3: a batch
 * could put thousands of tokens in `task.labels` for free). Malformed bodies count what can be read of
 * them: validation answers them with a 400 right after. Items read from a repository (`source`) are not
 * in the body: the intake charges them once it has read them.
 */
export function submittedTokens(body: unknown): number {
  const b = (typeof body === 'object' && body !== null ? body : {}) as SubmittedWork;
  if (!Array.isArray(b.items)) return 0;
  // Chat items: their messages are the whole prompt (issue 16 §2).
  if (b.kind === 'chat')
    return (b.items as unknown[]).reduce<number>(
      (sum, item) => sum + chatBodyTokens((item as { body?: unknown } | null)?.body),
      0,
    );
  const kind = b.kind === 'code-migration' ? 'code-migration' : 'document-processing';
  // The prompt around an empty item, counted once: an item adds its own text to it. Building every item's
  // prompt instead would copy a large schema once per item (10,000 items × 100 KB) just to count it.
  const around = scaffoldTokens(kind, b.task);
  let tokens = 0;
  for (const item of b.items as unknown[]) {
    const i = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    const input = typeof i.text === 'string' ? i.text : typeof i.content === 'string' ? i.content : '';
    const path = kind === 'code-migration' && typeof i.path === 'string' ? i.path : '';
    tokens += around + charsToTokens(input.length + path.length);
  }
  return tokens;
}

/** Tokens of an item's prompt without the item: system prompt, template and task fields. */
export function scaffoldTokens(kind: 'document-processing' | 'code-migration', rawTask: unknown): number {
  const task = (typeof rawTask === 'object' && rawTask !== null ? rawTask : {}) as Record<string, unknown>;
  try {
    const prompt = promptFor({ kind, input: '', path: '' }, readableTask(kind, task), Number.MAX_SAFE_INTEGER);
    return estimateTokens(prompt.system) + estimateTokens(prompt.prompt);
  } catch {
    // A task too malformed to build a prompt from (validation refuses it next): count all of it.
    return estimateTokens(safeJson(task));
  }
}

/** The task as the prompt builders read it, from an unvalidated body: wrong types become absent. */
function readableTask(kind: 'document-processing' | 'code-migration', t: Record<string, unknown>): BatchTask {
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  if (kind === 'code-migration') {
    return { instruction: str(t.instruction), preset: str(t.preset), params: t.params } as CodeMigrationTask;
  }
  const labels = Array.isArray(t.labels) ? t.labels.map((l) => (typeof l === 'string' ? l : safeJson(l))) : undefined;
  const schema = t.schema === undefined ? undefined : t.schema;
  const known = t.type === 'classify' || t.type === 'extract' || t.type === 'summarize';
  // A type validation will refuse: count the prompt its schema or labels would make.
  const type = known ? t.type : schema !== undefined ? 'extract' : labels ? 'classify' : 'summarize';
  return { type, labels, schema, instructions: str(t.instructions) } as DocumentTask;
}

function charsToTokens(chars: number): number {
  return chars === 0 ? 0 : Math.ceil(chars / CHARS_PER_TOKEN);
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? '';
  } catch {
    return '';
  }
}
