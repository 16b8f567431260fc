import type { DocumentTask } from '#libs/domain';
import type { CompletionResult } from '#libs/providers';
import {
  askChecked,
  roomIn,
  fitsOneCall,
  withFeedback,
  type AnswerCheck,
  type Asked,
  type CallTally,
  type ItemModel,
  type RejectionListener,
} from '../model-calls.js';
import { contextShort, type ContextShort } from '../context-short.js';
import type { Prompt } from '../prompt.js';
import { mapPrompt, reduceGroups, reducePrompt } from './map-reduce-plan.js';
import { jsonSchemaForTask, structuredFeedback, validateStructured } from './structured-output.js';
import { chunkByTokens } from './token-chunker.js';

/** Share of a chunk repeated from the end of the one before, so no sentence loses its context. */
export const OVERLAP_SHARE = 0.1;
/** A context that leaves less than this for a part of the document after the prompt and answer is too small to be useful. */
export const MIN_CHUNK_TOKENS = 64;
/** What wrapping one partial answer in `<summary part="i of n">…</summary>` adds in a reduce prompt. */
export const PART_TAG_TOKENS = 16;
/** The place a chunk's frame is measured with: the longest "part i of n" this run can write. */
const WIDEST_PART = { index: 99_998, count: 99_999 };

/**
 * A document too long for one call to the model it runs on, processed map-reduce: the text split by
 * the model's own token counts into overlapping chunks that each fit one call with their prompt and
 * answer, each chunk answered (map), then the answers combined in document order (reduce) — in rounds
 * when they do not all fit one call. Calls run one after another: an item holds one sequence (or one
 * cloud slot), which is what the pools' concurrency counts.
 *
 * Per task:
 * - summarize: chunk summaries, combined into one summary.
 * - classify: chunk summaries that keep what bears on the labels, then one label for the whole
 *   document from them (schema-constrained and validated like a single call). A label per chunk and a
 *   vote would weigh a passing mention in one chunk like the document's subject; the final call sees
 *   all of the document's content, condensed.
 * - extract: each chunk extracts what it states, against the schema with its top-level `required`
 *   relaxed (a part may not state every field, and a grammar that forces them makes the model invent
 *   them); the partial objects are merged by the model against the full schema, validated as usual.
 *
 * Every answer is checked before it is used, and asked for again with the checker's reason.
 */
export async function runLongDocument<Stop>(
  model: ItemModel<Stop>,
  tally: CallTally,
  task: DocumentTask,
  text: string,
  maxOutputTokens: number,
  onRejected?: RejectionListener,
): Promise<Asked<string, Stop> | ContextShort> {
  const partTask = partTaskOf(task);
  const partSchema = task.type === 'extract' ? (jsonSchemaForTask(partTask) ?? undefined) : undefined;
  const partCheck = task.type === 'extract' ? structuredCheck(partTask) : summaryCheck;

  const chunkTokens = roomIn(model, chunkFrame(task, maxOutputTokens));
  if (chunkTokens < MIN_CHUNK_TOKENS) {
    return contextShort(
      `the model's context of ${model.contextTokens} tokens leaves ${Math.max(0, chunkTokens)} tokens for a part ` +
        `of the document after its prompt and answer; at least ${MIN_CHUNK_TOKENS} are needed`,
    );
  }
  const chunks = chunkByTokens(text, { chunkTokens, overlapTokens: Math.floor(chunkTokens * OVERLAP_SHARE) }, (s) =>
    model.countTokens(s),
  );

  let partials: string[] = [];
  for (const chunk of chunks) {
    const part = `part ${chunk.index + 1} of ${chunks.length}`;
    const prompt = mapPrompt(partTask, chunk.text, { index: chunk.index, count: chunks.length }, maxOutputTokens);
    const options = { maxOutputTokens, part, onRejected };
    const asked = await askChecked(model, tally, prompt, partSchema, partCheck(prompt), options);
    if (!('ok' in asked) || !asked.ok) return partFailed(asked, part);
    partials.push(asked.value);
  }

  // Reduce in rounds until the partial answers fit one final call.
  for (let round = 1; ; round++) {
    const final = reducePrompt(task, partials, maxOutputTokens, 'final');
    if (fitsOneCall(model, final)) {
      const check = task.type === 'summarize' ? summaryCheck(final) : structuredCheck(task)(final);
      const options = { maxOutputTokens, part: 'combining the parts', onRejected };
      const asked = await askChecked(model, tally, final, jsonSchemaForTask(task) ?? undefined, check, options);
      return 'ok' in asked && !asked.ok ? partFailed(asked, 'combining the parts') : asked;
    }
    const frame = reducePrompt(partTask, [], maxOutputTokens, 'intermediate');
    const groups = reduceGroups(
      partials,
      roomIn(model, frame),
      (partial) => model.countTokens(partial) + PART_TAG_TOKENS,
    );
    if (groups.length >= partials.length) {
      const what = "the parts' answers with the prompt that combines them";
      return contextShort(`the model's context of ${model.contextTokens} tokens cannot hold ${what}`);
    }
    const next: string[] = [];
    for (const [i, group] of groups.entries()) {
      if (group.length === 1) {
        next.push(group[0]); // nothing to combine it with in this round
        continue;
      }
      const part = `combining round ${round}, group ${i + 1} of ${groups.length}`;
      const prompt = reducePrompt(partTask, group, maxOutputTokens, 'intermediate');
      const options = { maxOutputTokens, part, onRejected };
      const asked = await askChecked(model, tally, prompt, partSchema, partCheck(prompt), options);
      if (!('ok' in asked) || !asked.ok) return partFailed(asked, part);
      next.push(asked.value);
    }
    partials = next;
  }
}

/** The task each part is asked under: an extract's schema without its top-level `required`. */
function partTaskOf(task: DocumentTask): DocumentTask {
  return task.type === 'extract' ? { ...task, schema: withoutRequired(task.schema ?? {}) } : task;
}

/**
 * A chunk's prompt with the chunk left empty, numbered as the widest part this run can write: what a
 * context must hold besides a chunk. Routing estimates a long document's calls from it (libs/jobs item-split).
 */
export function chunkFrame(task: DocumentTask, maxOutputTokens: number): Prompt {
  return mapPrompt(partTaskOf(task), '', WIDEST_PART, maxOutputTokens);
}

function partFailed<Stop>(asked: Asked<unknown, Stop>, part: string): Asked<string, Stop> {
  if ('stop' in asked) return { stop: asked.stop };
  return { ok: false, message: `${(asked as { message: string }).message}, in ${part}` };
}

/** A summary is any non-empty text. */
function summaryCheck(prompt: Prompt): (answer: CompletionResult) => AnswerCheck<string> {
  return (answer) => {
    const summary = answer.text.trim();
    if (summary) return { ok: true, value: summary };
    return {
      ok: false,
      message: 'the answer was empty',
      retry: withFeedback(prompt, 'Your previous answer was empty. Answer with the summary.'),
    };
  };
}

/** A classification or extraction must match the task's JSON Schema; the value is its JSON text. */
function structuredCheck(task: DocumentTask): (prompt: Prompt) => (answer: CompletionResult) => AnswerCheck<string> {
  return (prompt) => (answer) => {
    const checked = validateStructured(task, answer.text);
    if (checked.ok) return { ok: true, value: checked.stored };
    return { ok: false, message: checked.message, retry: withFeedback(prompt, structuredFeedback(checked.message)) };
  };
}

/** The schema with its top-level `required` dropped: a part of a document may state only some fields. */
export function withoutRequired(schema: Record<string, unknown>): Record<string, unknown> {
  const { required: _required, ...rest } = schema;
  return rest;
}
