import type { CodeMigrationTask } from '#libs/domain';
import { estimateTokens } from '#libs/routing';
import { migrationInstruction } from './code-migration/migration-presets.js';
import type { Prompt } from './prompt.js';

const SYSTEM =
  'You are a precise code migration tool. Rewrite the given file according to the instruction. ' +
  'Answer with the complete new file content only, no explanations.';

/** The prompt for rewriting one source file by the batch's instruction or preset. */
export function codeMigrationPrompt(
  task: CodeMigrationTask,
  path: string,
  content: string,
  maxOutputTokens: number,
): Prompt {
  const maxTokens = Math.min(task.maxTokens ?? maxOutputTokens, maxOutputTokens);
  return {
    system: SYSTEM,
    prompt: `Instruction: ${migrationInstruction(task)}\n\nFile: ${path}\n\`\`\`\n${content}\n\`\`\``,
    maxTokens,
    // A rewritten file is about as long as the original, plus a little.
    expectedOutputTokens: Math.min(maxTokens, Math.ceil(estimateTokens(content) * 1.1) + 16),
  };
}
