import type { DocumentTask } from '#libs/domain';
import { estimateTokens } from '#libs/routing';
import { documentPrompt } from '../document-prompt.js';
import type { Prompt } from '../prompt.js';

/** The same system prompt a single document gets, taken from there so the two cannot drift apart. */
const SYSTEM = documentPrompt({ type: 'summarize' }, '', 1).system;
/** Longest label answer we wait for unless the task sets maxTokens (as for a single document). */
const CLASSIFY_MAX_TOKENS = 32;

/**
 * A document too long for one prompt, processed in two steps: each chunk on its own (map), then the
 * chunks' answers combined (reduce). Summarize and classify map to summaries; extract maps to partial
 * JSON objects that the reduce merges.
 */
export interface MapReducePlan {
  /** One prompt per chunk, in document order. */
  map: Prompt[];
  /** The final prompt over the map answers, given in chunk order. */
  reduce(partials: readonly string[]): Prompt;
}

export function mapReducePlan(task: DocumentTask, chunks: readonly string[], maxOutputTokens: number): MapReducePlan {
  return {
    map: chunks.map((chunk, i) => mapPrompt(task, chunk, { index: i, count: chunks.length }, maxOutputTokens)),
    reduce: (partials) => {
      if (partials.length !== chunks.length)
        throw new RangeError(`reduce expects ${chunks.length} partial answers, got ${partials.length}`);
      return reducePrompt(task, partials, maxOutputTokens);
    },
  };
}

/** Which part of the document a chunk is; `index` from 0. */
export interface DocumentPart {
  index: number;
  count: number;
}

/** The prompt for one chunk of a long document. */
export function mapPrompt(task: DocumentTask, chunk: string, part: DocumentPart, maxOutputTokens: number): Prompt {
  const maxTokens = Math.min(task.maxTokens ?? maxOutputTokens, maxOutputTokens);
  const which = `${part.index + 1} of ${part.count}`;
  const tagged = `<document part="${which}">\n${chunk}\n</document>`;
  if (task.type === 'extract') {
    return {
      system: SYSTEM,
      prompt: `Extract from the following part ${which} of a longer document a JSON object matching this JSON Schema, with only the fields this part states. Answer with the JSON object only.\nSchema: ${JSON.stringify(task.schema)}${extraOf(task)}\n\n${tagged}`,
      maxTokens,
      expectedOutputTokens: extractOutputTokens(task, maxTokens),
    };
  }
  // Classify maps to summaries too; they keep what bears on the labels, the reduce picks one.
  const focus = task.type === 'classify' ? ` Keep what bears on these labels: ${labelsOf(task)}.` : `${extraOf(task)}`;
  return {
    system: SYSTEM,
    prompt: `Summarize the following part ${which} of a longer document in a few sentences. Keep names, numbers and dates.${focus}\n\n${tagged}`,
    maxTokens,
    expectedOutputTokens: summaryOutputTokens(chunk, maxTokens),
  };
}

/**
 * The prompt combining partial answers in document order. `final` applies the task (a label for
 * classify); `intermediate` combines a group of summaries into one summary, for when all the partials
 * do not fit one prompt and are reduced in rounds.
 */
export function reducePrompt(
  task: DocumentTask,
  partials: readonly string[],
  maxOutputTokens: number,
  stage: 'final' | 'intermediate' = 'final',
): Prompt {
  const maxTokens = Math.min(task.maxTokens ?? maxOutputTokens, maxOutputTokens);
  const parts = (tag: string) =>
    partials.map((text, i) => `<${tag} part="${i + 1} of ${partials.length}">\n${text}\n</${tag}>`).join('\n');
  if (task.type === 'extract') {
    return {
      system: SYSTEM,
      prompt: `Merge the following JSON objects, extracted from consecutive parts of one document, into one JSON object matching this JSON Schema. Where parts disagree, keep the most specific value. Answer with the JSON object only.\nSchema: ${JSON.stringify(task.schema)}${extraOf(task)}\n\n${parts('extracted')}`,
      maxTokens,
      expectedOutputTokens: extractOutputTokens(task, maxTokens),
    };
  }
  const summaries = parts('summary');
  if (task.type === 'classify' && stage === 'final') {
    return {
      system: SYSTEM,
      prompt: `Classify the document that the following summaries of its consecutive parts describe. Answer with exactly one of these labels: ${labelsOf(task)}.${extraOf(task)}\n\n${summaries}`,
      maxTokens: task.maxTokens ? maxTokens : Math.min(maxTokens, CLASSIFY_MAX_TOKENS),
      expectedOutputTokens: Math.min(8, maxTokens),
    };
  }
  const whole = stage === 'final' ? 'the whole document' : 'these parts';
  const focus = task.type === 'classify' ? ` Keep what bears on these labels: ${labelsOf(task)}.` : extraOf(task);
  return {
    system: SYSTEM,
    prompt: `Combine the following summaries of consecutive parts of one document into one summary of ${whole} in a few sentences. Keep names, numbers and dates.${focus}\n\n${summaries}`,
    maxTokens,
    expectedOutputTokens: summaryOutputTokens(partials.join('\n'), maxTokens),
  };
}

/**
 * Consecutive groups of partial answers, each within `maxInputTokens`, for reducing in rounds: reduce
 * each group with stage 'intermediate', then group the results again until one group is left. A
 * partial larger than the limit is a group of its own.
 */
export function reduceGroups(
  partials: readonly string[],
  maxInputTokens: number,
  countTokens: (text: string) => number = estimateTokens,
): string[][] {
  const groups: string[][] = [];
  let tokens = 0;
  for (const partial of partials) {
    const size = countTokens(partial);
    const current = groups.at(-1);
    if (current && tokens + size <= maxInputTokens) {
      current.push(partial);
      tokens += size;
    } else {
      groups.push([partial]);
      tokens = size;
    }
  }
  return groups;
}

function extraOf(task: DocumentTask): string {
  return task.instructions ? `\n${task.instructions}` : '';
}

function labelsOf(task: DocumentTask): string {
  return (task.labels ?? []).join(', ');
}

/** Summaries run at roughly a quarter of their input, at least SUMMARY_MIN_TOKENS (as for one document). */
export const SUMMARY_OUTPUT_SHARE = 1 / 4;
export const SUMMARY_MIN_TOKENS = 32;

// JSON at about 1.5× its schema (as for one document).
function summaryOutputTokens(input: string, maxTokens: number): number {
  return Math.min(maxTokens, Math.max(SUMMARY_MIN_TOKENS, Math.ceil(estimateTokens(input) * SUMMARY_OUTPUT_SHARE)));
}

function extractOutputTokens(task: DocumentTask, maxTokens: number): number {
  return Math.min(maxTokens, Math.max(16, Math.ceil(estimateTokens(JSON.stringify(task.schema)) * 1.5)));
}
