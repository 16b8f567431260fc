interface Waiter<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

/**
 * One call in flight at a time for a write whose effect does not depend on how many ask for it (a circuit's
 * success clears it, however many calls succeeded): who asks while a call is in flight shares the next one, sent
 * once that call is answered, so each caller's effect still lands after it asked. A worker finishing hundreds of
 * calls a second then writes once per round trip, not once per call (issue 17 §1); a lone caller's call goes at
 * once (with those of the same task).
 */
export class NextCall<T> {
  private inFlight = false;
  private scheduled = false;
  private waiters: Waiter<T>[] = [];

  constructor(private readonly call: () => Promise<T>) {}

  /** The call (made after the current task's synchronous code, so callers in one task share it), or the next. */
  run(): Promise<T> {
    const answered = new Promise<T>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        this.flush();
      });
    }
    return answered;
  }

  private flush(): void {
    if (this.inFlight || this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    this.inFlight = true;
    const settle = (each: (w: Waiter<T>) => void) => {
      this.inFlight = false;
      waiters.forEach(each);
      this.flush();
    };
    this.call().then(
      (value) => settle((w) => w.resolve(value)),
      (err: unknown) => settle((w) => w.reject(err)),
    );
  }
}
