import type { CodeMigrationTask, DocumentTask, WorkItem } from '#libs/batches/src/batch-types.js';
import { codeMigrationPrompt, stripCodeFence } from './code-migration-prompt.js';
import { documentPrompt } from './document-prompt.js';
import type { Prompt } from './prompt.js';

/** The prompt for any work item, by its batch kind. */
export function promptFor(item: Pick<WorkItem, 'kind' | 'input' | 'path'>, task: DocumentTask | CodeMigrationTask, maxOutputTokens: number): Prompt {
  return item.kind === 'code-migration'
    ? codeMigrationPrompt(task as CodeMigrationTask, item.path ?? '', item.input, maxOutputTokens)
    : documentPrompt(task as DocumentTask, item.input, maxOutputTokens);
}

/** Turns raw model text into the item's result. */
export function resultFrom(kind: WorkItem['kind'], text: string): string {
  return kind === 'code-migration' ? stripCodeFence(text) : text.trim();
}
