import type { CompletionResult, TokenUsage } from '#libs/providers/src/completion.js';
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

  add(answer: CompletionResult): void {
    this.usage.inputTokens += answer.usage.inputTokens;
    this.usage.outputTokens += answer.usage.outputTokens;
    this.calls += 1;
    this.model = answer.model;
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

/**
 * Asks, checks the answer, asks again with the checker's reason: at most `rounds` calls
 * (1 + MAX_VALIDATION_RETRIES unless told). A retry whose feedback would overflow the context asks
 * the first prompt again instead. Every call's usage goes into `tally`. When every answer was
 * rejected, the message says so and gives the last checker's reason.
 */
export async function askChecked<T, Stop>(
  model: ItemModel<Stop>,
  tally: CallTally,
  prompt: Prompt,
  jsonSchema: Record<string, unknown> | undefined,
  check: (answer: CompletionResult) => AnswerCheck<T>,
  options: { part?: string; rounds?: number; onRejected?: RejectionListener } = {},
): Promise<Asked<T, Stop> & { rounds: number }> {
  const rounds = options.rounds ?? MAX_VALIDATION_RETRIES + 1;
  const first = prompt;
  let message = 'no answer was asked for';
  for (let round = 0; round < rounds; round++) {
    const answer = await model.complete(prompt, jsonSchema);
    if ('stop' in answer) return { stop: answer.stop, rounds: round + 1 };
    tally.add(answer);
    const checked = check(answer);
    if (checked.ok) return { ok: true, value: checked.value, rounds: round + 1 };
    message = checked.message;
    options.onRejected?.({ part: options.part ?? null, round, message });
    prompt = fitsOneCall(model, checked.retry) ? checked.retry : first;
  }
  return { ok: false, message: `answer rejected ${rounds === 1 ? 'once' : `${rounds} times`} (${message})`, rounds };
}

/** The same prompt with the reason its previous answer was rejected appended. */
export function withFeedback(prompt: Prompt, feedback: string): Prompt {
  return { ...prompt, prompt: `${prompt.prompt}\n\n${feedback}` };
}
