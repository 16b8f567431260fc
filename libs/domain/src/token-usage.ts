/** Tokens one call (or one item's calls) used, as the provider counted them. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}
