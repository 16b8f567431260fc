import { setMaxListeners } from 'node:events';
import type { ItemStore } from './item-store.js';

/** How often a batch with calls running here checks whether it was cancelled. */
export const CANCEL_POLL_MS = 250;

/** One call's view of its batch's cancel: aborted once the cancel is seen; `stop()` when the call ends. */
export interface CancelHandle {
  readonly signal: AbortSignal;
  stop(): void;
}

interface BatchWatch {
  controller: AbortController;
  timer: NodeJS.Timeout;
  calls: number;
}

/**
 * Aborts running completions once their batch is cancelled (DELETE /v1/batches/:id), by polling the store:
 * one poll and one signal per batch with calls running in this process, however many of its items run at
 * once. (Each call used to poll on its own and make its own signal: fifty sequences of one batch, fifty polls
 * every interval.) The poll starts with the batch's first running call and stops with its last; a call that
 * starts after the cancel was seen gets a signal already aborted.
 */
export class CancelWatches {
  private readonly batches = new Map<string, BatchWatch>();

  constructor(
    private readonly store: Pick<ItemStore, 'isCancelRequested'>,
    private readonly pollMs = CANCEL_POLL_MS,
  ) {}

  watch(batchId: string): CancelHandle {
    let watch = this.batches.get(batchId);
    if (!watch) {
      const controller = new AbortController();
      // Every call of the batch running here listens on it, as on a provider's stop signal (linked-signal.ts): as many
      // listeners as calls in flight is not a leak, and Node's warning past 10 would say it is.
      setMaxListeners(0, controller.signal);
      const timer = setInterval(() => {
        this.store
          .isCancelRequested(batchId)
          .then((yes) => yes && controller.abort(new Error('batch cancelled')))
          .catch(() => undefined); // Redis blip: the next poll tries again
      }, this.pollMs);
      watch = { controller, timer, calls: 0 };
      this.batches.set(batchId, watch);
    }
    watch.calls += 1;
    const current = watch;
    let stopped = false;
    return {
      signal: current.controller.signal,
      stop: () => {
        if (stopped) return;
        stopped = true;
        current.calls -= 1;
        if (current.calls > 0) return;
        clearInterval(current.timer);
        if (this.batches.get(batchId) === current) this.batches.delete(batchId);
      },
    };
  }

  /** How many batches are polled now. */
  get watching(): number {
    return this.batches.size;
  }
}
