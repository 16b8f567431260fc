import type { Price } from '#libs/domain/src/price.js';
import type { TokenUsage } from '#libs/domain/src/token-usage.js';

export type { Price } from '#libs/domain/src/price.js';

/** The cost of one call. Rounded to 1e-9 USD so sums across items stay exact enough to compare. */
export function costOf(usage: TokenUsage, price: Price): number {
  const usd = (usage.inputTokens * price.inputPerMTokUsd + usage.outputTokens * price.outputPerMTokUsd) / 1_000_000;
  return Math.round(usd * 1e9) / 1e9;
}
