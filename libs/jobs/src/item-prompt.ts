import type { CodeMigrationTask, DocumentTask, WorkItem, BatchTask } from '#libs/domain';
import { estimateTokens } from '#libs/routing';
import { codeMigrationPrompt } from './code-migration-prompt.js';
import { documentPrompt } from './document-prompt.js';
import type { Prompt } from './prompt.js';
import { chatBodyOf, chatPrompt } from './chat/chat-prompt.js';

/**
 * The prompt for any work item, by its batch kind; its expectedOutputTokens is what routing, quotes
 * and backlogs count the item's work by.
 */
export function promptFor(
  item: Pick<WorkItem, 'kind' | 'input' | 'path'>,
  task: BatchTask,
  maxOutputTokens: number,
): Prompt {
  if (item.kind === 'chat') return chatPrompt(chatBodyOf(item.input), maxOutputTokens);
  if (item.kind !== 'code-migration') return documentPrompt(task as DocumentTask, item.input, maxOutputTokens);
  const prompt = codeMigrationPrompt(task as CodeMigrationTask, item.path ?? '', item.input, maxOutputTokens);
  return { ...prompt, expectedOutputTokens: migratedOutputTokens(item.input, prompt) };
}

/**
 * A file longer than one answer is migrated in parts (code-migration/split-migration-run), on every
 * provider alike since maxTokens is the batch's: its output is the whole file rewritten, about 1.1× its
 * length, not one answer capped at maxTokens — for a 20k-token file that is 22k tokens of work, not 512.
 */
function migratedOutputTokens(content: string, prompt: Prompt): number {
  const fileTokens = estimateTokens(content);
  return fileTokens > prompt.maxTokens ? Math.ceil(fileTokens * 1.1) + 16 : prompt.expectedOutputTokens;
}
