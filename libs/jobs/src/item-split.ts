import type { CodeMigrationTask, DocumentTask, WorkItem, BatchTask } from '#libs/domain';
import type { ItemSplit } from '#libs/routing';
import { filePartFrame, MIN_PART_TOKENS, OUTPUT_GROWTH } from './code-migration/split-migration-run.js';
import {
  chunkFrame,
  MIN_CHUNK_TOKENS,
  OVERLAP_SHARE,
  PART_TAG_TOKENS,
} from './document-processing/long-document-run.js';
import { reducePrompt, SUMMARY_MIN_TOKENS, SUMMARY_OUTPUT_SHARE } from './document-processing/map-reduce-plan.js';
import { promptFor } from './item-prompt.js';
import { FEEDBACK_RESERVE_TOKENS } from './model-calls.js';
import type { Prompt } from './prompt.js';

/** Token counts as the item's estimate makes them: of a bare text, and of a prompt as sent. */
export interface SplitTokenCounts {
  text(text: string): number;
  prompt(prompt: Prompt): number;
}

/**
 * How the runners split the item on a context too small for it in one call, as numbers for routing
 * (libs/routing callsOn): the part prompts' frames, limits and minimums are the runners' own (chunkFrame,
 * filePartFrame, MIN_CHUNK_TOKENS, MIN_PART_TOKENS, FEEDBACK_RESERVE_TOKENS), so the policy's estimate of a
 * provider cannot disagree with what the runner will do there by more than the token counts do.
 */
export function itemSplit(
  item: Pick<WorkItem, 'kind' | 'input' | 'path'>,
  task: BatchTask,
  maxOutputTokens: number,
  count: SplitTokenCounts,
): ItemSplit {
  const whole = promptFor(item, task, maxOutputTokens);
  const contentTokens = count.text(item.input);
  const base = { maxTokens: whole.maxTokens, contentTokens, reserveTokens: FEEDBACK_RESERVE_TOKENS };
  if (item.kind === 'code-migration') {
    const frame = filePartFrame(task as CodeMigrationTask, item.path ?? '', maxOutputTokens);
    const partFrameTokens = count.prompt(frame);
    const part = { partFrameTokens, partMaxTokens: frame.maxTokens, minPartTokens: MIN_PART_TOKENS };
    return { kind: 'file', ...base, ...part, outputGrowth: OUTPUT_GROWTH };
  }
  const document = task as DocumentTask;
  const frame = chunkFrame(document, maxOutputTokens);
  const reduce = reducePrompt(document, [], maxOutputTokens, 'final');
  // Summarize and classify map to summaries; extract to partial objects of about the schema's size.
  const partAnswer =
    document.type === 'extract'
      ? { perContentToken: 0, min: frame.expectedOutputTokens }
      : { perContentToken: SUMMARY_OUTPUT_SHARE, min: SUMMARY_MIN_TOKENS };
  return {
    kind: 'document',
    ...base,
    partFrameTokens: count.prompt(frame),
    partMaxTokens: frame.maxTokens,
    minPartTokens: MIN_CHUNK_TOKENS,
    overlapShare: OVERLAP_SHARE,
    partAnswer,
    reduceFrameTokens: count.prompt(reduce),
    reduceMaxTokens: reduce.maxTokens,
    tagTokens: PART_TAG_TOKENS,
  };
}
