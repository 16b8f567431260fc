import type { Price } from '#libs/domain';
import type { TokenUsage } from '#libs/domain';

export type { Price } from '#libs/domain';

/** The cost of one call. Rounded to 1e-9 USD so sums across items stay exact enough to compare. */
export function costOf(usage: TokenUsage, price: Price): number {
  const usd = (usage.inputTokens * price.inputPerMTokUsd + usage.outputTokens * price.outputPerMTokUsd) / 1_000_000;
  return Math.round(usd * 1e9) / 1e9;
}
