import { planSequences, type DeviceMemory, type ModelFootprint } from './sequence-capacity.js';

export interface GovernorOptions {
  /** Reads the device's memory now. */
  probe: () => Promise<DeviceMemory>;
  footprint: ModelFootprint;
  utilization: number;
  /** Sequences allocated in the context: the most the pool can ever run. */
  allocated: number;
  /** Applies a new number of sequences allowed to run (provider and queue consumer). */
  apply: (active: number) => void;
  /** After an out-of-memory error, how long the lowered ceiling holds before memory readings may raise it. */
  oomHoldMs?: number;
  now?: () => number;
}

/**
 * Keeps a pool's running sequences within what device memory allows: shrinks when another process
 * takes memory or an item hits out-of-memory, grows back (never beyond what was allocated) when it
 * returns. Never below one: a pool that is consuming keeps making progress; its OOM'd items are retried.
 */
export class SequenceGovernor {
  private current: number;
  private ceiling: number;
  private ceilingUntil = 0;
  private readonly now: () => number;

  constructor(private readonly opts: GovernorOptions) {
    this.current = opts.allocated;
    this.ceiling = opts.allocated;
    this.now = opts.now ?? Date.now;
  }

  get active(): number {
    return this.current;
  }

  /** Re-reads memory and adjusts; returns the number of sequences now allowed. */
  async check(): Promise<number> {
    const { footprint, allocated, utilization } = this.opts;
    // Only memory shrinks a running pool: how many sequences suit the cores was decided when it was sized.
    const { cores: _cores, ...device } = await this.opts.probe();
    // What we hold is ours to plan with: weights plus the context allocated for every sequence.
    const heldBytes = footprint.modelBytes + footprint.contextBytes(allocated);
    const plan = planSequences({ device, footprint, utilization, cap: allocated, heldBytes });
    if (this.now() >= this.ceilingUntil) this.ceiling = allocated;
    this.set(Math.min(Math.max(1, plan.sequences), this.ceiling));
    return this.current;
  }

  /** An item ran out of memory: run one sequence fewer for a while. */
  onOutOfMemory(): number {
    this.ceiling = Math.max(1, this.current - 1);
    this.ceilingUntil = this.now() + (this.opts.oomHoldMs ?? 60_000);
    this.set(this.ceiling);
    return this.current;
  }

  private set(n: number): void {
    if (n === this.current) return;
    this.current = n;
    this.opts.apply(n);
  }
}
