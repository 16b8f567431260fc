/**
 * Writes an item's run starts and need not wait for: what a call teaches about its provider (its circuit,
 * its latency fit) is learned while the item goes on, and awaited before the job ends, so a failed write
 * still fails the job (and BullMQ retries it; the item's guarded transitions make the rerun a no-op once it
 * is finished). Issue 17: each awaited write on the per-item path is a Redis round trip (an fsync, with
 * `appendfsync always`) before the item's answer is recorded.
 */
export class PendingWrites {
  private readonly writes: Array<Promise<unknown>> = [];

  add(write: Promise<unknown>): void {
    // Observed now, so a write failing before settle() is not an unhandled rejection; settle() rethrows it.
    write.catch(() => undefined);
    this.writes.push(write);
  }

  /** Waits for every write added so far; throws the first failure. */
  async settle(): Promise<void> {
    const results = await Promise.allSettled(this.writes.splice(0));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
