/** Prices in US dollars per million tokens. Local providers carry one too (amortized hardware). */
export interface Price {
  inputPerMTokUsd: number;
  outputPerMTokUsd: number;
}
