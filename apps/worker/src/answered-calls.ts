import { createHash } from 'node:crypto';
import type { AnsweredCall } from '#libs/domain';
import type { Prompt } from '#libs/jobs';
import type { CompletionResult } from '#libs/providers';

/** One call of a run that was answered (sent, or replayed from an earlier run): what a preemption keeps. */
export interface RunAnswer {
  prompt: Prompt;
  jsonSchema: Record<string, unknown> | undefined;
  completion: CompletionResult;
}

/**
 * The exact request a call makes, as a key: its prompt (or chat), its token bound and its schema. Two calls with
 * one key ask the model the same thing, so the answer one got may stand for the other's.
 */
export function callKey(prompt: Prompt, jsonSchema: Record<string, unknown> | undefined): string {
  const request = [prompt.system, prompt.prompt, prompt.maxTokens, prompt.chat ?? null, jsonSchema ?? null];
  return createHash('sha256').update(JSON.stringify(request)).digest('base64url');
}

/** What a preempted run keeps for its rerun: every answer its calls got, keyed by the request they made. */
export function keptAnswers(answers: readonly RunAnswer[]): AnsweredCall[] {
  return answers.map(({ prompt, jsonSchema, completion }) => ({
    key: callKey(prompt, jsonSchema),
    text: completion.text,
    model: completion.model,
    finishReason: completion.finishReason,
  }));
}

/**
 * The answer an earlier, preempted run got for this exact request, if any. Its usage is zero: those tokens were
 * charged to the item when that run was preempted (carried as spent), so the rerun must not charge them again.
 */
export function replayedAnswer(
  answered: readonly AnsweredCall[] | undefined,
  prompt: Prompt,
  jsonSchema: Record<string, unknown> | undefined,
): CompletionResult | undefined {
  if (!answered || answered.length === 0) return undefined;
  const key = callKey(prompt, jsonSchema);
  const kept = answered.find((a) => a.key === key);
  if (!kept) return undefined;
  return {
    text: kept.text,
    model: kept.model,
    finishReason: kept.finishReason,
    usage: { inputTokens: 0, outputTokens: 0 },
  };
}
