import { describe, expect, it } from '@jest/globals';
import { DisposedError, InsufficientMemoryError } from 'node-llama-cpp';
import { classifyEngineError } from './engine-errors.js';

describe('classifyEngineError', () => {
  it('treats memory pressure as retryable', () => {
    expect(classifyEngineError(new InsufficientMemoryError('not enough VRAM'))).toEqual({
      code: 'out_of_memory',
      retryable: true,
    });
    expect(classifyEngineError(new Error('ggml: failed to allocate buffer'))).toEqual({
      code: 'out_of_memory',
      retryable: true,
    });
  });

  it('treats a context too small for the prompt as bad input', () => {
    expect(classifyEngineError(new Error('The context size is too small to generate a response'))).toEqual({
      code: 'context_overflow',
      retryable: false,
    });
  });

  it('treats a disposed engine as closed, and anything else as a retryable engine error', () => {
    expect(classifyEngineError(new DisposedError())).toEqual({ code: 'closed', retryable: true });
    expect(classifyEngineError(new Error('Failed to generated next token'))).toEqual({
      code: 'engine_error',
      retryable: true,
    });
  });
});
