import { describe, expect, it } from '@jest/globals';
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import { ProviderError, type CompletionRequest } from '../completion.js';
import { inputTokensBound } from '#libs/routing';
import { finishReasonOf, streamedAnswer, usageOf, wholeAnswer } from './chat-answer.js';
import { chatCompletionParams } from './chat-request.js';

const req: CompletionRequest = {
  itemRef: 'batch-1.4',
  sensitivity: 'internal',
  system: 'Answer briefly.', // 15 characters
  prompt: 'What is in the memo?', // 20 characters
  maxTokens: 64,
};
const at = 'provider "frontier", item batch-1.4';
const sent = chatCompletionParams('asked-model', req);
const ctx = { sent, model: 'asked-model', at };

const completion = (over: Partial<ChatCompletion> = {}, finish: string | null = 'stop'): ChatCompletion =>
  ({
    id: 'c1',
    object: 'chat.completion',
    created: 0,
    model: 'served-model',
    choices: [{ index: 0, message: { role: 'assistant', content: 'The renewal.' }, finish_reason: finish }],
    usage: { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 },
    ...over,
  }) as ChatCompletion;

const chunk = (content: string | undefined, finish: string | null = null, extra = {}): ChatCompletionChunk =>
  ({
    id: 'c1',
    object: 'chat.completion.chunk',
    created: 0,
    model: 'served-model',
    choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: finish }],
    ...extra,
  }) as ChatCompletionChunk;

async function* streamOf(...chunks: ChatCompletionChunk[]): AsyncIterable<ChatCompletionChunk> {
  for (const c of chunks) yield c;
}

const failureOf = (fn: () => unknown): ProviderError => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    return err as ProviderError;
  }
  throw new Error('expected a ProviderError');
};

describe('a whole answer', () => {
  it("is the first choice's text, with the usage and model the API reported", () => {
    expect(wholeAnswer(completion(), ctx)).toEqual({
      text: 'The renewal.',
      usage: { inputTokens: 11, outputTokens: 3 },
      model: 'served-model',
      finishReason: 'stop',
    });
  });

  it('names the model asked for when the API names none', () => {
    expect(wholeAnswer(completion({ model: '' }), ctx).model).toBe('asked-model');
  });

  it('is refused, retryably, when it holds no choice: no finish_reason there is no answer that stopped', () => {
    const err = failureOf(() => wholeAnswer(completion({ choices: [] }), ctx));
    expect(err).toMatchObject({ code: 'bad_response', retryable: true });
  });

  it("is refused, retryably, when the body is not a chat completion (a proxy's page, a wrong baseURL)", () => {
    const err = failureOf(() => wholeAnswer({ hello: 'world' } as unknown as ChatCompletion, ctx));
    expect(err).toMatchObject({ code: 'bad_response', retryable: true });
  });
});

describe('a streamed answer', () => {
  it("is the chunks' text joined, with the finish reason and the usage of the final chunk", async () => {
    let chunks = 0;
    const usage = { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 };
    const stream = streamOf(chunk('The '), chunk('renewal.'), chunk(undefined, 'length'), {
      ...chunk(undefined),
      choices: [],
      usage,
    });
    const signal = new AbortController().signal;
    const result = await streamedAnswer(stream, { ...ctx, signal, onChunk: () => chunks++ });
    expect(result).toEqual({
      text: 'The renewal.',
      usage: { inputTokens: 11, outputTokens: 3 },
      model: 'served-model',
      finishReason: 'length',
    });
    expect(chunks).toBe(4);
  });

  it('is no result when the stream ended because its signal aborted (the SDK ends it quietly)', async () => {
    const controller = new AbortController();
    controller.abort();
    const reading = streamedAnswer(streamOf(chunk('The '), chunk('ren', 'stop')), {
      ...ctx,
      signal: controller.signal,
      onChunk: () => undefined,
    });
    await expect(reading).rejects.toThrow('stream aborted');
  });

  it('is no result when the stream ended without a finish reason: it was cut off', async () => {
    const reading = streamedAnswer(streamOf(chunk('The ')), {
      ...ctx,
      signal: new AbortController().signal,
      onChunk: () => undefined,
    });
    await expect(reading).rejects.toMatchObject({ code: 'connection', retryable: true });
  });
});

describe('how an answer ended', () => {
  it('is a result only when it stopped or reached its limit', () => {
    expect(finishReasonOf('stop', at)).toBe('stop');
    expect(finishReasonOf('length', at)).toBe('length');
  });

  it('withholds a filtered answer for good, and takes an unknown ending for a partial answer', () => {
    expect(failureOf(() => finishReasonOf('content_filter', at))).toMatchObject({
      code: 'content_filter',
      retryable: false,
    });
    expect(failureOf(() => finishReasonOf('tool_calls', at))).toMatchObject({
      code: 'unexpected_finish',
      retryable: false,
    });
    expect(failureOf(() => finishReasonOf(null, at))).toMatchObject({ code: 'connection', retryable: true });
  });
});

describe('usage', () => {
  const bound = inputTokensBound([req.system, req.prompt], 2);

  it('is what the server reported, where it reported every count', () => {
    expect(usageOf({ prompt_tokens: 11, completion_tokens: 3 }, sent, 'x'.repeat(9))).toEqual({
      usage: { inputTokens: 11, outputTokens: 3 },
    });
  });

  it('is estimated at its bound, and flagged, when the server reports none, rather than lost', () => {
    for (const none of [undefined, null, {}, 'n/a'])
      expect(usageOf(none, sent, 'x'.repeat(9))).toEqual({
        usage: { inputTokens: bound, outputTokens: 9 },
        usageEstimated: true,
      });
  });

  it('estimates each count the server left out, null, negative, fractional or 0 for text, keeping the others', () => {
    for (const prompt_tokens of [null, -1, 1.5, 0, '11'])
      expect(usageOf({ prompt_tokens, completion_tokens: 3 }, sent, 'x'.repeat(9))).toEqual({
        usage: { inputTokens: bound, outputTokens: 3 },
        usageEstimated: true,
      });
    // 0 tokens for an empty answer is a count.
    expect(usageOf({ prompt_tokens: 11, completion_tokens: 0 }, sent, '')).toEqual({
      usage: { inputTokens: 11, outputTokens: 0 },
    });
  });

  it("counts an estimated answer's reasoning as output, within the max_tokens it was asked with", () => {
    expect(usageOf(null, sent, 'ab', 'think').usage.outputTokens).toBe(7);
    expect(usageOf(null, sent, '好'.repeat(100)).usage.outputTokens).toBe(req.maxTokens);
  });
});
