/** What can stop a completion besides its own timer: the caller's abort, and the provider's close(). */
export interface StopSignals {
  caller?: AbortSignal;
  closing: AbortSignal;
}

export type StopCause = 'timeout' | 'aborted' | 'closed';

/** Marks an attempt this process stopped itself, so the SDK's generic abort error is not misread. */
export class StoppedAttempt extends Error {
  constructor(override readonly cause: StopCause) {
    super(`attempt stopped: ${cause}`);
  }
}

export interface BoundedAttemptOptions<T> {
  /**
   * The timer's limit. It runs from the start; `run` re-arms it (`stillFlowing`) whenever the answer
   * moves on, so for a stream it bounds the silence between chunks, not the whole answer.
   */
  timeoutMs: number;
  stops: StopSignals;
  /** The attempt itself: it must pass `signal` to the request, so stopping it ends the request. */
  run: (signal: AbortSignal, stillFlowing: () => void) => Promise<T>;
}

/**
 * Runs one attempt under a timer, the caller's abort and close(). When any of them stops it, the attempt
 * rejects with StoppedAttempt naming the first cause, whatever the SDK threw on being aborted.
 */
export async function boundedAttempt<T>({ timeoutMs, stops, run }: BoundedAttemptOptions<T>): Promise<T> {
  const controller = new AbortController();
  let stopCause: StopCause | undefined;
  const stop = (cause: StopCause) => {
    stopCause ??= cause;
    controller.abort();
  };
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stop('timeout'), timeoutMs);
  };
  const onAbort = () => stop('aborted');
  const onClose = () => stop('closed');
  stops.caller?.addEventListener('abort', onAbort, { once: true });
  stops.closing.addEventListener('abort', onClose, { once: true });
  arm();
  try {
    return await run(controller.signal, arm);
  } catch (err) {
    throw stopCause ? new StoppedAttempt(stopCause) : err;
  } finally {
    clearTimeout(timer);
    stops.caller?.removeEventListener('abort', onAbort);
    stops.closing.removeEventListener('abort', onClose);
  }
}

/** Waits `ms` (a backoff); the caller's abort or close() ends the wait at once. */
export async function waitUnlessStopped(ms: number, stops: StopSignals): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      stops.caller?.removeEventListener('abort', done);
      stops.closing.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    stops.caller?.addEventListener('abort', done, { once: true });
    stops.closing.addEventListener('abort', done, { once: true });
  });
}
