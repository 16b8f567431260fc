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

  it('treats a chat template that refuses the messages as a bad request, never retried', () => {
    // What Jinja's raise_exception throws: a plain Error, told apart only by where it was thrown.
    const refusal = new Error('Conversation roles must alternate user/assistant/user/assistant/...');
    expect(classifyEngineError(refusal, 'template')).toEqual({ code: 'bad_request', retryable: false });
    expect(classifyEngineError(refusal)).toEqual({ code: 'engine_error', retryable: true });
  });

  it('treats a schema the grammar compiler refuses as unsupported, never retried', () => {
    expect(classifyEngineError(new Error('Unsupported schema type: "tuple"'), 'grammar')).toEqual({
      code: 'schema_unsupported',
      retryable: false,
    });
  });

  it('still reports memory pressure and a disposed engine as such while rendering or compiling', () => {
    for (const stage of ['template', 'grammar'] as const) {
      expect(classifyEngineError(new DisposedError(), stage)).toEqual({ code: 'closed', retryable: true });
      expect(classifyEngineError(new Error('failed to allocate buffer'), stage)).toEqual({
        code: 'out_of_memory',
        retryable: true,
      });
    }
  });
});
