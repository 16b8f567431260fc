import type { CodeMigrationTask, DocumentTask, WorkItem } from '#libs/batches/src/batch-types.js';
import { codeMigrationPrompt } from './code-migration-prompt.js';
import { documentPrompt } from './document-prompt.js';
import type { Prompt } from './prompt.js';

/** The prompt for any work item, by its batch kind. */
export function promptFor(item: Pick<WorkItem, 'kind' | 'input' | 'path'>, task: DocumentTask | CodeMigrationTask, maxOutputTokens: number): Prompt {
  return item.kind === 'code-migration'
    ? codeMigrationPrompt(task as CodeMigrationTask, item.path ?? '', item.input, maxOutputTokens)
    : documentPrompt(task as DocumentTask, item.input, maxOutputTokens);
}
