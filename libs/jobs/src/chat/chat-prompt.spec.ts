import { describe, expect, it } from '@jest/globals';
import type { ChatBody } from '#libs/domain';
import { chatAnswerOf, checkChatAnswer } from './chat-answer.js';
import { promptInputBound } from '../prompt.js';
import { chatAnswerSchema, chatBodyTokens, chatPrompt } from './chat-prompt.js';

const body: ChatBody = {
  messages: [
    { role: 'system', content: 'Be terse.' },
    { role: 'developer', content: 'No lists.' },
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello' },
    { role: 'user', content: 'Why?' },
  ],
  max_tokens: 100,
  temperature: 0.5,
  seed: 3,
  stop: 'END',
};

describe("a chat item's prompt", () => {
  it('keeps its messages and sampling to send, and flattens them for token counts', () => {
    const prompt = chatPrompt(body, 512);
    expect(prompt.system).toBe('Be terse.\n\nNo lists.');
    expect(prompt.prompt).toBe('user: Hi\n\nassistant: Hello\n\nuser: Why?');
    expect(prompt.chat).toEqual({
      messages: body.messages,
      temperature: 0.5,
      topP: undefined,
      seed: 3,
      stop: ['END'],
      responseFormat: undefined,
    });
    expect(prompt.maxTokens).toBe(100);
    expect(prompt.expectedOutputTokens).toBe(32);
  });

  it('takes max_completion_tokens over max_tokens, within MAX_OUTPUT_TOKENS, and MAX_OUTPUT_TOKENS without either', () => {
    expect(chatPrompt({ ...body, max_completion_tokens: 40 }, 512).maxTokens).toBe(40);
    expect(chatPrompt({ ...body, max_tokens: 4000 }, 512).maxTokens).toBe(512);
    expect(chatPrompt({ messages: body.messages }, 64).maxTokens).toBe(64);
  });

  it('needs a schema only for json_schema, and counts its messages for rate limits', () => {
    const schema = { type: 'object' };
    expect(
      chatAnswerSchema({ ...body, response_format: { type: 'json_schema', json_schema: { name: 'a', schema } } }),
    ).toBe(schema);
    expect(chatAnswerSchema({ ...body, response_format: { type: 'json_object' } })).toBeUndefined();
    expect(chatBodyTokens({ messages: [{ role: 'user', content: 'x'.repeat(40) }] })).toBe(10);
    expect(chatBodyTokens('not a body')).toBe(0);
  });
});

describe("a chat item's answer", () => {
  it('counts as given, cut off or not, and is stored with its finish_reason', () => {
    const check = checkChatAnswer(body, 'Because.', 'length');
    expect(check).toEqual({ ok: true, result: '{"content":"Because.","finish_reason":"length"}' });
    expect(check.ok && chatAnswerOf(check.result)).toEqual({ content: 'Because.', finish_reason: 'length' });
  });

  it('must be JSON when response_format asks for JSON and the answer ended on its own', () => {
    const json = { ...body, response_format: { type: 'json_object' as const } };
    expect(checkChatAnswer(json, 'not json', 'stop')).toEqual({
      ok: false,
      message: 'the answer is not JSON, as response_format json_object asks',
    });
    expect(checkChatAnswer(json, '{"a":1}', 'stop').ok).toBe(true);
  });
});

describe("a prompt's input bound (what a budget holds for its call)", () => {
  const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

  it('counts every byte sent, as no tokenizer gives a token less than a byte: dense scripts, the schema, the stop sequences', () => {
    const dense = '预算不得超过'.repeat(100) + '🙂'.repeat(50);
    const schema = { type: 'object', properties: { 总额: { type: 'number', description: '金额'.repeat(40) } } };
    const chatBody: ChatBody = {
      messages: [
        { role: 'system', content: 'Be terse.' },
        { role: 'user', content: dense },
      ],
      stop: ['停止', 'END'],
      response_format: { type: 'json_schema', json_schema: { name: 'n', schema } },
    };
    const bound = promptInputBound(chatPrompt(chatBody, 512));
    const sent = bytes('Be terse.') + bytes(dense) + bytes(JSON.stringify(schema)) + bytes('停止END');
    expect(bound).toBeGreaterThan(sent);
    // Far above ~4 characters a token, which reads this text as a third of its bytes' tokens.
    expect(bound).toBeGreaterThan(2.5 * chatBodyTokens(chatBody));

    const document = { system: 'Extract.', prompt: dense, maxTokens: 64, expectedOutputTokens: 16 };
    expect(promptInputBound(document, schema)).toBeGreaterThan(
      bytes('Extract.') + bytes(dense) + bytes(JSON.stringify(schema)),
    );
  });
});
