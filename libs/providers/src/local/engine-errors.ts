import { DisposedError, InsufficientMemoryError } from 'node-llama-cpp';

/** How an error thrown by node-llama-cpp / llama.cpp should be reported to the queue. */
export interface EngineErrorClass {
  code: 'out_of_memory' | 'context_overflow' | 'closed' | 'engine_error';
  retryable: boolean;
}

/**
 * Classifies an engine error. Bad input is caught before it reaches the engine (see
 * LocalModelProvider), so what remains is mostly transient: memory pressure, a failed decode
 * (llama_decode returns 1 when no KV slot is free), the engine being shut down under a job.
 * The one input error the engine itself reports is a context too small for the prompt.
 */
export function classifyEngineError(error: unknown): EngineErrorClass {
  if (error instanceof DisposedError) return { code: 'closed', retryable: true };
  if (error instanceof InsufficientMemoryError) return { code: 'out_of_memory', retryable: true };
  const message = error instanceof Error ? error.message : String(error);
  if (/out of memory|insufficient memory|failed to allocate|unable to allocate|\bOOM\b/i.test(message)) {
    return { code: 'out_of_memory', retryable: true };
  }
  if (/context size is too small|not enough tokens/i.test(message))
    return { code: 'context_overflow', retryable: false };
  if (/disposed/i.test(message)) return { code: 'closed', retryable: true };
  return { code: 'engine_error', retryable: true };
}
