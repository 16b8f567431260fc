import type { ItemStore } from './item-store.js';

/** How often a running item checks whether its batch was cancelled. */
export const CANCEL_POLL_MS = 250;

/** Aborts a running completion once its batch is cancelled (DELETE /v1/batches/:id), by polling the store. */
export class CancelWatch {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;

  constructor(store: Pick<ItemStore, 'isCancelRequested'>, batchId: string, pollMs = CANCEL_POLL_MS) {
    this.timer = setInterval(() => {
      store
        .isCancelRequested(batchId)
        .then((yes) => yes && this.controller.abort(new Error('batch cancelled')))
        .catch(() => undefined); // Redis blip: the next poll tries again
    }, pollMs);
  }

  /** Aborted once the cancel is seen: passed to the provider's call. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
