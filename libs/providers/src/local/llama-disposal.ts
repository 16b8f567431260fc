import type { Llama } from 'node-llama-cpp';

/** Engines a model failed to load on: their dispose() may never finish (see disposeLlama). */
const failedLoadOn = new WeakSet<Llama>();

/** Notes that a model failed to load on `llama`. */
export function noteFailedLoad(llama: Llama): void {
  failedLoadOn.add(llama);
}

/** How disposing an engine ended. */
export interface LlamaDisposal {
  /** False when dispose() had not finished within the bound. */
  disposed: boolean;
  /** Whether a model had failed to load on it: the known reason for a dispose() that never finishes. */
  afterFailedLoad: boolean;
}

/**
 * Disposes a node-llama-cpp engine, waiting at most `timeoutMs`.
 *
 * node-llama-cpp 3.x leaks a hold on the engine when a model fails to load (a file cut short, an architecture
 * llama.cpp does not know): `LlamaModel._create` takes the engine's disposal-prevention handle in the model's
 * constructor and throws without disposing that model when the native load fails. Only the model's dispose()
 * gives the handle back, and once the model has been garbage-collected nothing can, so `Llama.dispose()` waits
 * for ever (reproduced: a failed load, a forced GC, and dispose() never settles). A worker serving one broken
 * model among good ones then sat out its whole SHUTDOWN_TIMEOUT_MS on every stop and exited with code 1 as if its
 * jobs had hung. What is left undisposed is native memory the process's exit gives back.
 */
export async function disposeLlama(llama: Llama, timeoutMs: number): Promise<LlamaDisposal> {
  let timer: NodeJS.Timeout | undefined;
  const disposed = await Promise.race([
    llama.dispose().then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
  ]).finally(() => clearTimeout(timer));
  return { disposed, afterFailedLoad: failedLoadOn.has(llama) };
}
