import { DisposedError, InsufficientMemoryError } from 'node-llama-cpp';

/** How an error thrown by node-llama-cpp / llama.cpp should be reported to the queue. */
export interface EngineErrorClass {
  code: 'out_of_memory' | 'context_overflow' | 'closed' | 'engine_error' | 'bad_request' | 'schema_unsupported';
  retryable: boolean;
}

/**
 * Where in a completion the engine failed: rendering the messages with the model's chat template, compiling
 * the grammar of the answer's JSON schema, or generating.
 */
export type EngineStage = 'template' | 'grammar' | 'generation';

/**
 * Classifies an engine error. Bad input is caught before it reaches the engine (see
 * LocalModelProvider), so what remains is mostly transient: memory pressure, a failed decode
 * (llama_decode returns 1 when no KV slot is free), the engine being shut down under a job.
 * The input errors the engine itself reports: a context too small for the prompt, a chat template
 * that refuses the messages (Jinja `raise_exception`, e.g. "roles must alternate": a plain Error, known
 * only by where it was thrown), a schema the grammar compiler refuses. The same request fails the
 * same way on every attempt, so those are not retried.
 */
export function classifyEngineError(error: unknown, stage: EngineStage = 'generation'): EngineErrorClass {
  if (error instanceof DisposedError) return { code: 'closed', retryable: true };
  if (error instanceof InsufficientMemoryError) return { code: 'out_of_memory', retryable: true };
  const message = error instanceof Error ? error.message : String(error);
  if (/out of memory|insufficient memory|failed to allocate|unable to allocate|\bOOM\b/i.test(message)) {
    return { code: 'out_of_memory', retryable: true };
  }
  if (/disposed/i.test(message)) return { code: 'closed', retryable: true };
  if (stage === 'template') return { code: 'bad_request', retryable: false };
  if (stage === 'grammar') return { code: 'schema_unsupported', retryable: false };
  if (/context size is too small|not enough tokens/i.test(message))
    return { code: 'context_overflow', retryable: false };
  return { code: 'engine_error', retryable: true };
}
