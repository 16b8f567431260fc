import { describe, expect, it } from '@jest/globals';
import type { CompletionRequest } from '../completion.js';
import { chatCompletionParams } from './chat-request.js';

const request = (overrides: Partial<CompletionRequest> = {}): CompletionRequest => ({
  itemRef: 'batch-1.4',
  sensitivity: 'internal',
  system: 'Answer briefly.',
  prompt: 'What is in the memo?',
  maxTokens: 64,
  ...overrides,
});

const closedSchema = {
  type: 'object',
  properties: { label: { type: 'string' } },
  required: ['label'],
  additionalProperties: false,
};

describe('the chat completion an item asks for', () => {
  it("sends the system and the prompt as two messages, with the item's limit as max_tokens", () => {
    expect(chatCompletionParams('gpt-x', request())).toEqual({
      model: 'gpt-x',
      messages: [
        { role: 'system', content: 'Answer briefly.' },
        { role: 'user', content: 'What is in the memo?' },
      ],
      max_tokens: 64,
    });
  });

  it('asks for no particular format when the item has no schema', () => {
    expect(chatCompletionParams('gpt-x', request())).not.toHaveProperty('response_format');
  });

  it('asks for a strict json_schema answer when the schema fits strict mode', () => {
    expect(chatCompletionParams('gpt-x', request({ jsonSchema: closedSchema })).response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'answer', schema: closedSchema, strict: true },
    });
  });

  it('sends a schema strict mode would refuse with a 400 as guidance only (strict: false)', () => {
    const relaxed = { ...closedSchema, required: [] };
    expect(chatCompletionParams('gpt-x', request({ jsonSchema: relaxed })).response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'answer', schema: relaxed, strict: false },
    });
  });

  it("sends a chat item's own messages and parameters as written, with the item's limit", () => {
    const response_format = { type: 'json_schema' as const, json_schema: { name: 'r', schema: closedSchema } };
    const messages = [
      { role: 'developer' as const, content: 'Be terse.' },
      { role: 'user' as const, content: 'Hi' },
    ];
    const chat = { messages, temperature: 0.2, topP: 0.9, seed: 5, stop: ['END'], responseFormat: response_format };
    expect(chatCompletionParams('gpt-x', request({ chat, jsonSchema: closedSchema }))).toEqual({
      model: 'gpt-x',
      messages,
      max_tokens: 64,
      temperature: 0.2,
      top_p: 0.9,
      seed: 5,
      stop: ['END'],
      response_format,
    });
  });
});
