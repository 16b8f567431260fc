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
