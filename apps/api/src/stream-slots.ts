/**
 * Bounds the Server-Sent Event streams one API process holds open. Each stream holds a Redis connection of its
 * own while it waits (XREAD BLOCK), so without a bound one client could open enough streams to reach Redis's
 * `maxclients` and take the queue down for everyone. Two limits: per process (SSE_MAX_STREAMS) and per API
 * key (SSE_MAX_STREAMS_PER_KEY; open mode counts as one caller).
 */
export class StreamSlots {
  private total = 0;
  private readonly byCaller = new Map<string, number>();

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerCaller: number,
  ) {}

  /** A slot for `caller`, with the function that gives it back (once; later calls do nothing), or which limit is reached. */
  acquire(caller: string): { release: () => void } | { refused: 'process' | 'key'; limit: number } {
    const mine = this.byCaller.get(caller) ?? 0;
    if (mine >= this.maxPerCaller) return { refused: 'key', limit: this.maxPerCaller };
    if (this.total >= this.maxTotal) return { refused: 'process', limit: this.maxTotal };
    this.total += 1;
    this.byCaller.set(caller, mine + 1);
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.total -= 1;
        const left = (this.byCaller.get(caller) ?? 1) - 1;
        if (left > 0) this.byCaller.set(caller, left);
        else this.byCaller.delete(caller);
      },
    };
  }

  get open(): number {
    return this.total;
  }
}
