import type { CodeMigrationTask, DocumentTask, WorkItem, BatchTask } from '#libs/domain';
import { needsParts, runSplitMigration } from './code-migration/split-migration-run.js';
import { runLongDocument } from './document-processing/long-document-run.js';
import type { ContextShort } from './context-short.js';
import { answerSchema, checkItemOutput } from './item-output.js';
import { promptFor } from './item-prompt.js';
import { chatBodyOf, chatAnswerSchema } from './chat/chat-prompt.js';
import { checkChatAnswer } from './chat/chat-answer.js';
import type { Prompt } from './prompt.js';
import { askChecked, CallTally, fitsOneCall, type ItemModel, type RejectionListener } from './model-calls.js';

export type ItemRunOutcome<Stop> =
  /** Checked and ready to record. */
  | { kind: 'answered'; result: string; diff: string | null; tally: CallTally }
  /**
   * No answer passed its check, or (`cause: 'context'`) the model's context cannot hold the item's smallest
   * part: a provider with a larger context can run it. `message` says why, for the item's error.
   */
  | { kind: 'rejected'; message: string; tally: CallTally; cause?: 'context' }
  /** A call said stop (cancelled, rerouted, ...): the caller has recorded it. */
  | { kind: 'stopped'; stop: Stop; tally: CallTally };

/**
 * Runs one item on one model: one checked call (retried with the checker's reason) when its prompt
 * fits the model's context, otherwise a long document map-reduce or a large file migrated in parts.
 * "Fits" is the model's own limit: the local sequence's context measured with its tokenizer, or a
 * cloud provider's configured context window. The tally holds every call's usage, whatever the outcome.
 */
export async function runItem<Stop>(
  model: ItemModel<Stop>,
  item: Pick<WorkItem, 'kind' | 'input' | 'path'>,
  task: BatchTask,
  maxOutputTokens: number,
  onRejected?: RejectionListener,
  tally: CallTally = new CallTally(),
): Promise<ItemRunOutcome<Stop>> {
  const prompt = promptFor(item, task, maxOutputTokens);
  if (item.kind === 'chat') return runChat(model, item.input, prompt, maxOutputTokens, onRejected, tally);
  if (
    item.kind === 'code-migration' &&
    needsParts(model, task as CodeMigrationTask, item.path ?? '', item.input, maxOutputTokens)
  ) {
    const run = await runSplitMigration(
      model,
      tally,
      task as CodeMigrationTask,
      item.path ?? '',
      item.input,
      maxOutputTokens,
      onRejected,
    );
    if ('stop' in run) return { kind: 'stopped', stop: run.stop, tally };
    return run.ok ? { kind: 'answered', result: run.value.content, diff: run.value.diff, tally } : rejected(run, tally);
  }
  if (item.kind === 'document-processing' && !fitsOneCall(model, prompt)) {
    const run = await runLongDocument(model, tally, task as DocumentTask, item.input, maxOutputTokens, onRejected);
    if ('stop' in run) return { kind: 'stopped', stop: run.stop, tally };
    return run.ok ? { kind: 'answered', result: run.value, diff: null, tally } : rejected(run, tally);
  }
  const asked = await askChecked(
    model,
    tally,
    prompt,
    answerSchema(item, task),
    (answer) => {
      const check = checkItemOutput(item, task, answer.text, answer.finishReason, maxOutputTokens);
      return check.ok ? { ok: true, value: check } : check;
    },
    { maxOutputTokens, onRejected },
  );
  if ('stop' in asked) return { kind: 'stopped', stop: asked.stop, tally };
  return asked.ok
    ? { kind: 'answered', result: asked.value.result, diff: asked.value.diff, tally }
    : { kind: 'rejected', message: asked.message, tally };
}

/** A long run's failure as the item's outcome, keeping whether it was for want of context. */
function rejected<Stop>(run: { ok: false; message: string } | ContextShort, tally: CallTally): ItemRunOutcome<Stop> {
  const rejection = { kind: 'rejected' as const, message: run.message, tally };
  return 'cause' in run ? { ...rejection, cause: run.cause } : rejection;
}

/**
 * A chat item: its one request, asked again once when a JSON response_format came back as something else;
 * the answer stored as content and finish_reason (ChatAnswer). Never split: a conversation has no parts.
 */
async function runChat<Stop>(
  model: ItemModel<Stop>,
  input: string,
  prompt: Prompt,
  maxOutputTokens: number,
  onRejected: RejectionListener | undefined,
  tally: CallTally,
): Promise<ItemRunOutcome<Stop>> {
  const body = chatBodyOf(input);
  const asked = await askChecked(
    model,
    tally,
    prompt,
    chatAnswerSchema(body),
    (answer) => {
      const check = checkChatAnswer(body, answer.text, answer.finishReason);
      return check.ok ? { ok: true, value: check.result } : { ...check, retry: prompt };
    },
    { maxOutputTokens, onRejected, rounds: 2 },
  );
  if ('stop' in asked) return { kind: 'stopped', stop: asked.stop, tally };
  return asked.ok
    ? { kind: 'answered', result: asked.value, diff: null, tally }
    : { kind: 'rejected', message: asked.message, tally };
}
