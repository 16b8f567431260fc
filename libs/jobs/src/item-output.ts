import type { CodeMigrationTask, DocumentTask, WorkItem, BatchTask } from '#libs/domain';
import { validateMigratedFile } from './code-migration/output-validator.js';
import { migrationExpectations } from './code-migration/migration-presets.js';
import { validationRetryPrompt } from './code-migration/retry-prompt.js';
import { unifiedDiff } from './code-migration/unified-diff.js';
import { jsonSchemaForTask, structuredFeedback, validateStructured } from './document-processing/structured-output.js';
import { documentPrompt } from './document-prompt.js';
import { withFeedback } from './model-calls.js';
import type { Prompt } from './prompt.js';

/** An answer that counts, or why it does not and the prompt that asks again with that reason. */
export type OutputCheck =
  { ok: true; result: string; diff: string | null } | { ok: false; message: string; retry: Prompt };

/**
 * The wrapper that makes a cheap model good enough: every answer is checked before it counts — a
 * migrated file must parse (and not be cut off), a classification or extraction must match its JSON
 * Schema — and a rejected answer is asked for again with the checker's message in the prompt.
 */
export function checkItemOutput(
  item: Pick<WorkItem, 'kind' | 'input' | 'path'>,
  task: BatchTask,
  text: string,
  finishReason: 'stop' | 'length',
  maxOutputTokens: number,
): OutputCheck {
  if (item.kind === 'code-migration') {
    const path = item.path ?? '';
    const expect = migrationExpectations(task as CodeMigrationTask);
    const check = validateMigratedFile(path, text, {
      originalContent: item.input,
      maxTokensHit: finishReason === 'length',
      expect,
    });
    if (check.ok)
      return { ok: true, result: check.content, diff: unifiedDiff(path, item.input, check.content) || null };
    return {
      ok: false,
      message: check.message,
      retry: validationRetryPrompt(task as CodeMigrationTask, path, item.input, check, maxOutputTokens),
    };
  }
  const doc = task as DocumentTask;
  if (doc.type === 'summarize') {
    const summary = text.trim();
    if (summary) return { ok: true, result: summary, diff: null };
    const original = documentPrompt(doc, item.input, maxOutputTokens);
    return {
      ok: false,
      message: 'the answer was empty',
      retry: { ...original, prompt: `${original.prompt}\n\nYour previous answer was empty. Answer with the summary.` },
    };
  }
  const answer = validateStructured(doc, text);
  if (answer.ok) return { ok: true, result: answer.stored, diff: null };
  const retry = withFeedback(documentPrompt(doc, item.input, maxOutputTokens), structuredFeedback(answer.message));
  return { ok: false, message: answer.message, retry };
}

/** The JSON Schema an answer must match, for providers that can enforce it (grammar, response_format). */
export function answerSchema(item: Pick<WorkItem, 'kind'>, task: BatchTask): Record<string, unknown> | undefined {
  return item.kind === 'document-processing' ? (jsonSchemaForTask(task as DocumentTask) ?? undefined) : undefined;
}
