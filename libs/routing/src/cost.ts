import type { TokenUsage } from '#libs/providers/src/completion.js';

/** Prices in US dollars per million tokens. Local providers carry one too (amortized hardware). */
export interface Price {
  inputPerMTokUsd: number;
  outputPerMTokUsd: number;
}

/** The cost of one call. Rounded to 1e-9 USD so sums across items stay exact enough to compare. */
export function costOf(usage: TokenUsage, price: Price): number {
  const usd = (usage.inputTokens * price.inputPerMTokUsd + usage.outputTokens * price.outputPerMTokUsd) / 1_000_000;
  return Math.round(usd * 1e9) / 1e9;
}
