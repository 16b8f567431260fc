import type { CompletionResult, TokenUsage } from '#libs/providers';
import { MAX_VALIDATION_RETRIES } from './code-migration/retry-prompt.js';
import type { Prompt } from './prompt.js';

/**
 * What running one item needs of the provider it runs on. The processor supplies it: `complete` wraps
 * each call in everything a call needs (cloud gates, cancellation, failure handling), so every call an
 * item makes — one, or dozens for a long document — passes the same gates.
 */
export interface ItemModel<Stop> {
  /** Tokens one call holds: the prompt as sent plus the answer (maxTokens). */
  readonly contextTokens: number;
  /** Tokens of a bare text: the model's tokenizer where available, else an estimate. */
  countTokens(text: string): number;
  /** Tokens a prompt takes as sent (chat format included). */
  promptTokens(prompt: Prompt): number;
  /** One completion, or `{ stop }` when the item must not go on (cancelled, rerouted): the caller has recorded why. */
  complete(prompt: Prompt, jsonSchema: Record<string, unknown> | undefined): Promise<CompletionResult | { stop: Stop }>;
}

/** Told about every rejected answer, for logs (the message is checker wording, never item text). */
export type RejectionListener = (rejection: { part: string | null; round: number; message: string }) => void;

/** Usage of every call an item makes, summed: the item is charged for all of them. */
export class CallTally {
  readonly usage: TokenUsage = { inputTokens: 0, outputTokens: 0 };
  calls = 0;
  model = '';
  /** Some call's usage was estimated at its bound, its provider having reported none (CompletionResult). */
  usageEstimated = false;

  add(answer: CompletionResult): void {
    this.usage.inputTokens += answer.usage.inputTokens;
    this.usage.outputTokens += answer.usage.outputTokens;
    this.calls += 1;
    this.model = answer.model;
    if (answer.usageEstimated) this.usageEstimated = true;
  }
}

/**
 * Room kept, when a document or file is split, for the checker's message in a retry (up to ~500
 * characters of message and a line of instruction), so a part that fits also fits its retry.
 */
export const FEEDBACK_RESERVE_TOKENS = 256;

/** Whether a prompt and its answer fit one call. */
export function fitsOneCall<Stop>(model: ItemModel<Stop>, prompt: Prompt): boolean {
  return model.promptTokens(prompt) + prompt.maxTokens <= model.contextTokens;
}

/** Tokens left in one call for the content of `frame` (a prompt with its content left empty), keeping room for a retry's feedback. */
export function roomIn<Stop>(model: ItemModel<Stop>, frame: Prompt): number {
  return model.contextTokens - model.promptTokens(frame) - frame.maxTokens - FEEDBACK_RESERVE_TOKENS;
}

export type AnswerCheck<T> = { ok: true; value: T } | { ok: false; message: string; retry: Prompt };

export type Asked<T, Stop> = { ok: true; value: T } | { ok: false; message: string } | { stop: Stop };

export interface AskOptions {
  /** MAX_OUTPUT_TOKENS: the most output a cut-off answer may be asked again with. */
  maxOutputTokens: number;
  /** Which part of a long item this is, for the rejection listener. */
  part?: string;
  /** Calls at most: 1 + MAX_VALIDATION_RETRIES unless told. */
  rounds?: number;
  onRejected?: RejectionListener;
}

/**
 * How much more output a cut-off answer is asked again with: twice the limit, as far as
 * MAX_OUTPUT_TOKENS and the model's context allow, and at least a quarter more (less would be asking
 * the same question again).
 */
const CUT_OFF_GROWTH = 2;
const MIN_CUT_OFF_GROWTH = 1.25;

/** How every task kind reports an answer that stopped at its output limit. */
export function cutOffMessage(maxTokens: number): string {
  return `the answer was cut off at the output token limit (${maxTokens} tokens)`;
}

/**
 * Asks, checks the answer, asks again with the checker's reason: at most `rounds` calls. A retry whose
 * feedback would overflow the context asks the first prompt again instead. Every call's usage goes into
 * `tally`. When every answer was rejected, the message says so and gives the last checker's reason.
 *
 * An answer that stopped at the output limit (finishReason 'length') and fails its check failed because
 * it was cut off, whatever its truncated text looks like ("not JSON: unexpected end" is the same
 * cut-off): it is reported as one, with the limit. Asked again with the same limit it would be cut off
 * again, so it is asked once more with a larger limit (twice, within MAX_OUTPUT_TOKENS and the model's
 * context; later retries keep it) — or, where no larger limit fits or it was already raised, the item
 * fails at once. A check that accepts a cut-off answer (a summary that ran to the limit) keeps it.
 */
export async function askChecked<T, Stop>(
  model: ItemModel<Stop>,
  tally: CallTally,
  prompt: Prompt,
  jsonSchema: Record<string, unknown> | undefined,
  check: (answer: CompletionResult) => AnswerCheck<T>,
  options: AskOptions,
): Promise<Asked<T, Stop> & { rounds: number }> {
  const rounds = options.rounds ?? MAX_VALIDATION_RETRIES + 1;
  const first = prompt;
  let message = 'no answer was asked for';
  let raisedFrom: number | null = null;
  for (let round = 0; round < rounds; round++) {
    const answer = await model.complete(prompt, jsonSchema);
    if ('stop' in answer) return { stop: answer.stop, rounds: round + 1 };
    tally.add(answer);
    const checked = check(answer);
    if (checked.ok) return { ok: true, value: checked.value, rounds: round + 1 };
    const cutOff = answer.finishReason === 'length';
    message = cutOff ? cutOffMessage(prompt.maxTokens) : checked.message;
    options.onRejected?.({ part: options.part ?? null, round, message });
    if (cutOff) {
      const larger =
        raisedFrom === null
          ? largerLimit(model, prompt, options.maxOutputTokens)
          : { why: `again after the limit was raised from ${raisedFrom} tokens` };
      if ('why' in larger) return { ok: false, message: `${message}, ${larger.why}`, rounds: round + 1 };
      raisedFrom = prompt.maxTokens;
      prompt = larger;
      continue;
    }
    // A limit raised after a cut-off stays for the retries that follow.
    const limit = Math.max(checked.retry.maxTokens, prompt.maxTokens);
    const candidates = [
      { ...checked.retry, maxTokens: limit },
      { ...first, maxTokens: limit },
    ];
    prompt = candidates.find((candidate) => fitsOneCall(model, candidate)) ?? first;
  }
  return { ok: false, message: `answer rejected ${rounds === 1 ? 'once' : `${rounds} times`} (${message})`, rounds };
}

/** The prompt asked again after a cut-off, with a larger limit; or why there is none. */
function largerLimit<Stop>(model: ItemModel<Stop>, prompt: Prompt, maxOutputTokens: number): Prompt | { why: string } {
  const cut = prompt.maxTokens;
  const feedback =
    `Your previous answer was cut off at the output token limit (${cut} tokens). ` +
    'Answer again with the complete answer, as short as the task allows.';
  const retry = withFeedback(prompt, feedback);
  const room = model.contextTokens - model.promptTokens(retry);
  const maxTokens = Math.min(cut * CUT_OFF_GROWTH, maxOutputTokens, room);
  if (maxTokens >= cut * MIN_CUT_OFF_GROWTH) return { ...retry, maxTokens };
  if (maxOutputTokens < cut * MIN_CUT_OFF_GROWTH) {
    return { why: `and MAX_OUTPUT_TOKENS (${maxOutputTokens}) allows no larger limit` };
  }
  const context = `the model's context of ${model.contextTokens} tokens`;
  return { why: `and ${context} leaves no room for a larger limit (${Math.max(0, room)} tokens after the prompt)` };
}

/** The same prompt with the reason its previous answer was rejected appended. */
export function withFeedback(prompt: Prompt, feedback: string): Prompt {
  return { ...prompt, prompt: `${prompt.prompt}\n\n${feedback}` };
}
