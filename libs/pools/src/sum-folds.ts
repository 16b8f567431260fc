import { NextCall } from './next-call.js';

/** What one call of the fold script carries for a field: how many samples, and their increments already decayed among themselves. */
export interface PendingFold {
  field: string;
  count: number;
  increments: Record<string, number>;
}

/**
 * Decayed-sum samples (a provider's latency fit, a task kind's token ratios) on their way to one Redis hash, one
 * script call in flight at a time (NextCall): a sample that arrives while a call is in flight is folded into the
 * next one with the others that arrive meanwhile, so a worker finishing hundreds of items a second makes a call
 * per round trip, not one per item (issue 17 §1); a lone sample goes at once, as before.
 *
 * Folding k samples s₁…s_k in order into sums S gives S·dᵏ + Σ s_i·d^(k−i): the call carries k and that sum, and
 * the script multiplies what it holds by dᵏ. Every sample of a field must carry the same keys (a key missing from
 * one would decay with the others here, not in Redis).
 *
 * `record` resolves once its sample is in Redis, and rejects with the call's error: nothing is retried here, as
 * the one call per sample never was.
 */
export class SumFolds {
  private pending = new Map<string, PendingFold>();
  private readonly next: NextCall<unknown>;

  constructor(
    private readonly decay: number,
    send: (decay: number, folds: PendingFold[]) => Promise<unknown>,
  ) {
    this.next = new NextCall(() => {
      const folds = [...this.pending.values()];
      this.pending = new Map();
      return send(this.decay, folds);
    });
  }

  async record(field: string, sample: Record<string, number>): Promise<void> {
    const fold = this.pending.get(field) ?? { field, count: 0, increments: {} };
    for (const [key, value] of Object.entries(sample))
      fold.increments[key] = (fold.increments[key] ?? 0) * this.decay + value;
    fold.count += 1;
    this.pending.set(field, fold);
    await this.next.run();
  }
}
