import { workTokens } from './routing-policy.js';

/**
 * Exponentially weighted moving average of a provider's measured generation speed. α = 0.2 follows
 * a change in load within ~10 completions while one slow outlier moves the estimate by only 20%.
 */
export const THROUGHPUT_ALPHA = 0.2;

export function ewma(previous: number | null, sample: number, alpha = THROUGHPUT_ALPHA): number {
  return previous === null ? sample : previous + alpha * (sample - previous);
}

/** Tokens per second of one completion; null when it is too short to say anything. */
export function tokensPerSecond(outputTokens: number, elapsedMs: number): number | null {
  if (outputTokens < 1 || elapsedMs <= 0) return null;
  return (outputTokens * 1000) / elapsedMs;
}

/**
 * One sample of a provider's speed in the unit the routing policy estimates with: generation-equivalent
 * tokens (output plus prefill of the input, see workTokens) per second of generation, the provider's
 * fixed per-call latency taken out (the policy adds it back once per call). Counting only output tokens
 * over the whole call, as a first version did, reads a 600-token prompt with a 150-token answer as 30%
 * slower than it is, and a cloud call's latency on top of that. Null when the call says little about
 * speed: nothing generated, or latency more than half of it.
 */
export function workTokensPerSecond(
  usage: { inputTokens: number; outputTokens: number },
  elapsedMs: number,
  latencyMs = 0,
): number | null {
  const generatingMs = elapsedMs - latencyMs;
  if (usage.outputTokens < 1 || generatingMs <= 0 || generatingMs < elapsedMs / 2) return null;
  return (
    (workTokens({ inputTokens: usage.inputTokens, expectedOutputTokens: usage.outputTokens }) * 1000) / generatingMs
  );
}
