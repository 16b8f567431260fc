/**
 * A fixed set of interchangeable resources (a context's sequences) handed out one caller at a
 * time, first come first served. Waiters can give up through an AbortSignal; close() rejects them.
 */
export class SequencePool<T> {
  private readonly free: T[];
  private readonly waiters: Array<{ grant: (item: T) => void; fail: (error: unknown) => void }> = [];
  private readonly idleWaiters: Array<() => void> = [];
  private busyCount = 0;
  private closedWith?: Error;
  private readonly size: number;
  private maxBusy: number;

  constructor(items: readonly T[]) {
    if (items.length === 0) throw new RangeError('a pool needs at least one item');
    this.free = [...items];
    this.size = items.length;
    this.maxBusy = items.length;
  }

  get busy(): number {
    return this.busyCount;
  }

  /** How many items may be held at once (1 … size); lowered when memory is short, raised when it returns. */
  get limit(): number {
    return this.maxBusy;
  }

  /** Items already held above a lowered limit stay held until released; no new one is handed out meanwhile. */
  setLimit(n: number): void {
    this.maxBusy = Math.max(1, Math.min(this.size, Math.floor(n)));
    this.pump();
  }

  /** Resolves with a free item, waiting if none is; rejects with `signal.reason` if aborted first. */
  acquire(signal?: AbortSignal): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.busyCount < this.maxBusy && this.waiters.length === 0) {
      const item = this.free.shift()!;
      this.busyCount++;
      return Promise.resolve(item);
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        this.removeWaiter(waiter);
        reject(signal!.reason);
      };
      const waiter = {
        grant: (granted: T) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(granted);
        },
        fail: (error: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Returns an item: the longest waiter gets it (if the limit allows), else it goes back to the free list. */
  release(item: T): void {
    this.busyCount--;
    this.free.push(item);
    this.pump();
    if (this.busyCount === 0) this.idleWaiters.splice(0).forEach((notify) => notify());
  }

  private pump(): void {
    while (this.waiters.length > 0 && this.free.length > 0 && this.busyCount < this.maxBusy) {
      this.busyCount++;
      this.waiters.shift()!.grant(this.free.shift()!);
    }
  }

  /** Refuses new acquisitions and rejects current waiters with `reason`; held items stay held. */
  close(reason: Error): void {
    this.closedWith ??= reason;
    this.waiters.splice(0).forEach((waiter) => waiter.fail(reason));
  }

  /** Resolves once no item is held. */
  whenIdle(): Promise<void> {
    if (this.busyCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private removeWaiter(waiter: (typeof this.waiters)[number]): void {
    const index = this.waiters.indexOf(waiter);
    if (index >= 0) this.waiters.splice(index, 1);
  }
}
