import { setMaxListeners } from 'node:events';

/**
 * A provider's long-lived stop signal (close(), shutdown): every request in flight listens on it, and removes
 * its listener when it ends. So it holds as many listeners as the provider has requests in flight — 50 at
 * CLOUD_CONCURRENCY=50 — which is not a leak; Node's warning past 10 (MaxListenersExceededWarning) would say
 * it is, on every busy worker, and hide a real one. The listener removal is what the specs check instead.
 */
export function providerStopController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/** One signal that aborts when the request's or the provider's does, and a way to let go of both. */
export interface LinkedSignal {
  signal: AbortSignal;
  /** Removes the listeners from the sources; call it when the completion ends, however it ends. */
  detach: () => void;
}

/**
 * One signal that aborts when either source does, with the first reason. Unlike AbortSignal.any,
 * `detach` removes the listener from the provider's long-lived shutdown signal right away, so
 * thousands of completions leave nothing behind on it.
 */
export function linkSignals(request: AbortSignal | undefined, shutdown: AbortSignal): LinkedSignal {
  const linked = new AbortController();
  const sources = request ? [request, shutdown] : [shutdown];
  const onAbort = (event: Event): void => linked.abort((event.target as AbortSignal).reason);
  for (const source of sources) {
    if (source.aborted) {
      linked.abort(source.reason);
      break;
    }
    source.addEventListener('abort', onAbort, { once: true });
  }
  return {
    signal: linked.signal,
    detach: () => sources.forEach((source) => source.removeEventListener('abort', onAbort)),
  };
}
