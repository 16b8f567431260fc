import type { DocumentTask } from '#libs/domain';
import { estimateTokens } from '#libs/routing';
import type { Prompt } from './prompt.js';

/** Longest label answer we wait for unless the task sets maxTokens. */
const CLASSIFY_MAX_TOKENS = 32;

const SYSTEM = 'You are a careful document processing assistant. Answer with the requested output only.';

/** The prompt for one document under a summarize / classify / extract task. */
export function documentPrompt(task: DocumentTask, text: string, maxOutputTokens: number): Prompt {
  const maxTokens = Math.min(task.maxTokens ?? maxOutputTokens, maxOutputTokens);
  const extra = task.instructions ? `\n${task.instructions}` : '';
  const inputTokens = estimateTokens(text);
  switch (task.type) {
    case 'summarize':
      return {
        system: SYSTEM,
        prompt: `Summarize the following document in a few sentences.${extra}\n\n<document>\n${text}\n</document>`,
        maxTokens,
        // Summaries run at roughly a quarter of the source, within [32, maxTokens].
        expectedOutputTokens: clamp(Math.ceil(inputTokens / 4), 32, maxTokens),
      };
    case 'classify':
      return {
        system: SYSTEM,
        prompt: `Classify the following document. Answer with exactly one of these labels: ${(task.labels ?? []).join(', ')}.${extra}\n\n<document>\n${text}\n</document>`,
        // A label is a few tokens; without a task limit, don't let a rambling model bill 512.
        maxTokens: task.maxTokens ? maxTokens : Math.min(maxTokens, CLASSIFY_MAX_TOKENS),
        expectedOutputTokens: clamp(8, 1, maxTokens),
      };
    case 'extract':
      return {
        system: SYSTEM,
        prompt: `Extract from the following document a JSON object matching this JSON Schema. Answer with the JSON object only.\nSchema: ${JSON.stringify(task.schema)}${extra}\n\n<document>\n${text}\n</document>`,
        maxTokens,
        expectedOutputTokens: clamp(Math.ceil(estimateTokens(JSON.stringify(task.schema)) * 1.5), 16, maxTokens),
      };
  }
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.max(Math.min(lo, hi), Math.min(n, hi));
}
