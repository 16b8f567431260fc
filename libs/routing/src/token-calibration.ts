/**
 * Token estimates corrected from what really happened. Before any model has seen an item, its input is
 * estimated at ~4 characters a token (token-estimate.ts) and its output by a rule of thumb per task
 * (libs/jobs: a summary ~ a quarter of its source, a label, a JSON object ~1.5× its schema, migrated code
 * ~1.1× its source). Every completed item reports the tokens it really used: its input as the local
 * model's tokenizer or the cloud API counted it, and its output. Per task kind and direction we keep
 * decayed sums of real and estimated tokens, and scale the next estimates by their ratio. Sums, not a mean
 * of per-item ratios: a long item says more about the cost of long items than a one-word label does, and
 * cost is what the estimate is for. Per kind, because code tokenizes denser than prose and each kind of
 * answer runs longer or shorter than its rule.
 */
export const TASK_KINDS = ['summarize', 'classify', 'extract', 'migrate', 'chat'] as const;
export type TaskKind = (typeof TASK_KINDS)[number];
export type TokenDirection = 'input' | 'output';

export interface RatioSums {
  actual: number;
  expected: number;
  samples: number;
}

export interface TokenCounts {
  inputTokens: number;
  outputTokens: number;
}

/** Each completion keeps 98% of what came before: a change of model or of documents shows within ~50 items. */
export const RATIO_DECAY = 0.98;
/** Fewer completions than this of a kind say too little: its estimates stay as they are. */
export const RATIO_MIN_SAMPLES = 5;
/** A correction never goes beyond these factors, whatever a run of odd items suggests. */
export const RATIO_BOUNDS = { min: 0.25, max: 4 } as const;

export function foldRatio(
  previous: RatioSums | undefined,
  actual: number,
  expected: number,
  decay = RATIO_DECAY,
): RatioSums {
  const p = previous ?? { actual: 0, expected: 0, samples: 0 };
  return { actual: p.actual * decay + actual, expected: p.expected * decay + expected, samples: p.samples + 1 };
}

export function ratioOf(sums: RatioSums | undefined): number {
  if (!sums || sums.samples < RATIO_MIN_SAMPLES || sums.expected <= 0) return 1;
  return Math.min(RATIO_BOUNDS.max, Math.max(RATIO_BOUNDS.min, sums.actual / sums.expected));
}

/** Where a kind's sums live: `input:summarize`, `output:migrate`, ... (also the Redis hash's fields). */
export function ratioKey(direction: TokenDirection, kind: TaskKind): string {
  return `${direction}:${kind}`;
}

/** The ratios in force; `record` folds in one completed item (the simulator learns in place). */
export class TokenCalibration {
  constructor(private readonly sums: Partial<Record<string, RatioSums>> = {}) {}

  ratio(direction: TokenDirection, kind: TaskKind): number {
    return ratioOf(this.sums[ratioKey(direction, kind)]);
  }

  /**
   * An item's estimate, corrected. `maxOutputTokens`: the most its answer can be (one call's max_tokens),
   * where the model stops whatever the ratio says. A kind that writes 1.5× its rule still writes no more
   * than that: scaling a rule already at the cap overestimated the longest items by up to the ratio, and
   * in `npm run bench:routing` capping cost 1-3% less (steady ×1.102 → ×1.085, 18 workloads).
   */
  apply(
    kind: TaskKind,
    estimate: { inputTokens: number; expectedOutputTokens: number; maxOutputTokens?: number },
  ): { inputTokens: number; expectedOutputTokens: number } {
    const output = Math.round(estimate.expectedOutputTokens * this.ratio('output', kind));
    return {
      inputTokens: Math.max(1, Math.round(estimate.inputTokens * this.ratio('input', kind))),
      expectedOutputTokens: Math.max(1, Math.min(estimate.maxOutputTokens ?? Infinity, output)),
    };
  }

  record(kind: TaskKind, actual: TokenCounts, estimated: TokenCounts): void {
    for (const direction of ['input', 'output'] as const) {
      const key = ratioKey(direction, kind);
      const field = direction === 'input' ? 'inputTokens' : 'outputTokens';
      this.sums[key] = foldRatio(this.sums[key], actual[field], estimated[field]);
    }
  }

  /** Ratio and sample count per kind and direction, for GET /v1/providers. */
  describe(): Record<TaskKind, Record<TokenDirection, { ratio: number; samples: number }>> {
    const one = (direction: TokenDirection, kind: TaskKind) => ({
      ratio: Number(this.ratio(direction, kind).toFixed(3)),
      samples: this.sums[ratioKey(direction, kind)]?.samples ?? 0,
    });
    return Object.fromEntries(
      TASK_KINDS.map((k) => [k, { input: one('input', k), output: one('output', k) }]),
    ) as Record<TaskKind, Record<TokenDirection, { ratio: number; samples: number }>>;
  }
}
