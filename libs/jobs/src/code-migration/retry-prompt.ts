import type { CodeMigrationTask } from '#libs/domain';
import { codeMigrationPrompt } from '../code-migration-prompt.js';
import type { Prompt } from '../prompt.js';
import type { MigratedFileCheck } from './output-validator.js';

/** Answers a file may be re-asked for after the validator rejected it, beyond the first. */
export const MAX_VALIDATION_RETRIES = 2;

/**
 * What of the rejected answer goes back to the model. The whole answer could be as long as the file
 * and would double the prompt; the validator's message and the lines around the error are enough.
 */
export const RETRY_MESSAGE_MAX_CHARS = 500;
export const RETRY_EXCERPT_MAX_CHARS = 1500;

export type ValidationFailure = Extract<MigratedFileCheck, { ok: false }>;

/**
 * The prompt for asking again after `validateMigratedFile` rejected an answer: the original
 * instruction and file, then why the previous answer was rejected.
 */
export function validationRetryPrompt(
  task: CodeMigrationTask,
  path: string,
  content: string,
  failure: ValidationFailure,
  maxOutputTokens: number,
): Prompt {
  const original = codeMigrationPrompt(task, path, content, maxOutputTokens);
  return { ...original, prompt: `${original.prompt}\n\n${validationFeedback(failure)}` };
}

/** Why the previous answer was rejected, as appended to a prompt that asks again. */
export function validationFeedback(failure: ValidationFailure): string {
  const message = capped(failure.message, RETRY_MESSAGE_MAX_CHARS);
  const excerpt = failure.excerpt
    ? `\nThe lines around the first error in your answer:\n\`\`\`\n${capped(failure.excerpt, RETRY_EXCERPT_MAX_CHARS)}\n\`\`\``
    : '';
  return `Your previous answer was rejected: ${message}.${excerpt}\nAnswer again with the complete corrected file content only.`;
}

function capped(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `${text.slice(0, maxChars - 1)}…`;
}
