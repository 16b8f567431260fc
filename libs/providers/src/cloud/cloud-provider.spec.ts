import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  defaultAnswer,
  doubleTokenCount,
  startOpenAIDouble,
  type OpenAIDouble,
} from '../../../../test/support/openai-double.js';
import { ClearanceError, ProviderError, type CompletionRequest } from '../completion.js';
import { inputTokensBound } from '#libs/routing';
import { CloudProvider, type CloudProviderOptions } from './cloud-provider.js';

const API_KEY = 'sk-switchyard-test';
const SYSTEM = 'You answer in one line.';
const PROMPT = 'What does the contract say about renewal?';
const promptChars = SYSTEM.length + PROMPT.length;

const request = (overrides: Partial<CompletionRequest> = {}): CompletionRequest => ({
  itemRef: 'item-1',
  sensitivity: 'internal',
  system: SYSTEM,
  prompt: PROMPT,
  maxTokens: 256,
  ...overrides,
});

describe('CloudProvider against the OpenAI-compatible double', () => {
  let double: OpenAIDouble;
  const providers: CloudProvider[] = [];

  const provider = (overrides: Partial<CloudProviderOptions> = {}) => {
    const created = new CloudProvider({
      name: 'cloud-test',
      baseURL: double.url,
      apiKey: API_KEY,
      model: 'double-model',
      clearance: 'internal',
      timeoutMs: 2_000,
      maxRetries: 2,
      contextTokens: 128_000,
      ...overrides,
    });
    providers.push(created);
    return created;
  };

  /** The rejection of `promise`, which must reject. */
  const rejection = async (promise: Promise<unknown>): Promise<ProviderError> => {
    const outcome = await promise.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(outcome).toBeInstanceOf(ProviderError);
    return outcome as ProviderError;
  };

  beforeAll(async () => {
    double = await startOpenAIDouble({ apiKey: API_KEY });
  });
  afterEach(async () => {
    await Promise.all(providers.splice(0).map((p) => p.close()));
    double.reset();
  });
  afterAll(() => double.close());

  it('completes and reports the usage the API counted', async () => {
    const result = await provider().complete(request());

    const text = defaultAnswer(promptChars);
    expect(result).toEqual({
      text,
      usage: { inputTokens: Math.ceil(promptChars / 4), outputTokens: doubleTokenCount(text) },
      model: 'double-model',
      finishReason: 'stop',
      attemptMs: expect.any(Number),
    });
    expect(double.completionRequests()).toHaveLength(1);
    expect(double.completionRequests()[0].body).toMatchObject({
      model: 'double-model',
      messages: [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: PROMPT },
      ],
      max_tokens: 256,
    });
  });

  it('asks for the flex tier with service_tier on every request of a flex route, and for none otherwise', async () => {
    await provider({ serviceTier: 'flex' }).complete(request());
    await provider().complete(request());
    const [flex, standard] = double.completionRequests();
    expect(flex.body.service_tier).toBe('flex');
    expect(standard.body).not.toHaveProperty('service_tier');
  });

  it('does not retry flex\'s "resource unavailable": the tier is out, the item goes elsewhere', async () => {
    double.flexUnavailable(1);
    const err = await rejection(provider({ serviceTier: 'flex' }).complete(request()));
    expect(err).toMatchObject({ code: 'tier_unavailable', retryable: false });
    expect(double.completionRequests()).toHaveLength(1);
  });

  it('sends the API key as a Bearer token', async () => {
    await provider().complete(request());
    expect(double.requests[0].headers.authorization).toBe(`Bearer ${API_KEY}`);
  });

  it('reports finishReason "length" when the answer hit maxTokens', async () => {
    const result = await provider().complete(request({ maxTokens: 3 }));
    expect(result.finishReason).toBe('length');
    expect(result.usage.outputTokens).toBe(3);
  });

  it('refuses an item above its clearance without sending a single request', async () => {
    const cleared = provider({ clearance: 'internal' });

    await expect(cleared.complete(request({ sensitivity: 'confidential' }))).rejects.toBeInstanceOf(ClearanceError);
    await expect(cleared.complete(request({ sensitivity: 'restricted' }))).rejects.toMatchObject({
      code: 'clearance',
      retryable: false,
    });
    expect(double.requests).toHaveLength(0);
  });

  it('retries a 429 after the Retry-After the API asked for, then succeeds', async () => {
    double.failNext(1, { status: 429, retryAfterSec: 1 });

    const t0 = Date.now();
    const result = await provider().complete(request());

    expect(result.finishReason).toBe('stop');
    const [limited, retried] = double.completionRequests();
    expect(double.completionRequests()).toHaveLength(2);
    expect(retried.at - limited.at).toBeGreaterThanOrEqual(950);
    // The answering attempt's own time, which the latency fit learns from: the second of waiting is not in it.
    expect(result.attemptMs).toBeGreaterThanOrEqual(0);
    expect(result.attemptMs!).toBeLessThan(Date.now() - t0 - 900);
  });

  it('retries two 500s with backoff, then succeeds', async () => {
    double.failNext(2, { status: 500 });
    const result = await provider({ maxRetries: 2 }).complete(request());
    expect(result.text).toBe(defaultAnswer(promptChars));
    expect(double.completionRequests()).toHaveLength(3);
  });

  it('gives up with a retryable rate_limited error once retries are spent', async () => {
    double.failNext(2, { status: 429, retryAfterSec: 0 });
    const err = await rejection(provider({ maxRetries: 1 }).complete(request()));
    expect(err).toMatchObject({ code: 'rate_limited', retryable: true });
    expect(double.completionRequests()).toHaveLength(2);
  });

  it('hands a long Retry-After back to the queue instead of holding the worker', async () => {
    double.failNext(1, { status: 429, retryAfterSec: 3600 });
    const err = await rejection(provider({ maxRetries: 3 }).complete(request()));
    // With the wait it asked for, for the worker to act on (isLongRateLimit).
    expect(err).toMatchObject({ code: 'rate_limited', retryable: true, retryAfterMs: 3_600_000 });
    expect(double.completionRequests()).toHaveLength(1);
  });

  it('does not retry a 4xx such as a rejected key', async () => {
    const err = await rejection(provider({ apiKey: 'sk-wrong' }).complete(request()));
    expect(err).toMatchObject({ code: 'unauthorized', retryable: false });
    expect(err.message).not.toContain('sk-wrong');
    expect(err.message).not.toContain(PROMPT);
    expect(double.completionRequests()).toHaveLength(1);
  });

  it('tells a prompt over the served context apart from other refusals, as llama-server words it, without retrying', async () => {
    double.setHabits({ contextTokens: 5 });
    const err = await rejection(provider().complete(request()));
    expect(err).toMatchObject({ code: 'context_exceeded', retryable: false });
    expect(err.message).toContain('HTTP 400 (exceed_context_size_error)');
    double.setHabits({ refuseResponseFormat: true });
    const refused = await rejection(provider().complete(request({ jsonSchema: { type: 'object' } })));
    expect(refused).toMatchObject({ code: 'bad_request', retryable: false });
    expect(refused.message).not.toContain('Unsupported param');
    expect(double.completionRequests()).toHaveLength(2);
    double.setHabits({});
  });

  it("charges the prompt tokens the server reports, not a tokenizer's count (a server reusing its prompt cache reports fewer)", async () => {
    double.setHabits({ promptTokensScale: 0.25 });
    const result = await provider().complete(request());
    expect(result.usage.inputTokens).toBe(Math.round(Math.ceil(promptChars / 4) * 0.25));
    double.setHabits({});
  });

  it('times out a server that never answers, after its retries', async () => {
    double.failNext(2, { hang: true });
    const started = Date.now();

    const err = await rejection(provider({ timeoutMs: 300, maxRetries: 1 }).complete(request()));

    expect(err).toMatchObject({ code: 'timeout', retryable: true });
    expect(double.completionRequests()).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('aborts when the caller aborts, with code "aborted"', async () => {
    double.failNext(1, { hang: true });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);

    const err = await rejection(provider().complete(request({ signal: controller.signal })));

    expect(err).toMatchObject({ code: 'aborted', retryable: false });
    expect(double.completionRequests()).toHaveLength(1);
  });

  it('stops waiting out a backoff as soon as the caller aborts', async () => {
    double.failNext(1, { status: 503, retryAfterSec: 30 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();

    const err = await rejection(provider().complete(request({ signal: controller.signal })));

    expect(err.code).toBe('aborted');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(double.completionRequests()).toHaveLength(1);
  });

  it('aborts requests in flight when closed, as retryable work for another process', async () => {
    double.failNext(1, { hang: true });
    const closing = provider();
    const pending = closing.complete(request());
    setTimeout(() => void closing.close(), 100);

    expect(await rejection(pending)).toMatchObject({ code: 'aborted', retryable: true });
    await expect(closing.complete(request())).rejects.toMatchObject({ code: 'aborted' });
  });

  describe('a server that reports usage in part or not at all', () => {
    // What the request could be billed at most: each text's UTF-8 bytes plus framing (inputTokensBound).
    const sentBound = (system: string, prompt: string) => inputTokensBound([system, prompt], 2);

    it.each(['omit', 'null', 'zero'] as const)(
      'usage %s: both counts are estimated at their bound and the result says so',
      async (usage) => {
        double.setHabits({ usage });
        // Text a tokenizer reads densely: at four characters a token it would be billed four times what was counted.
        const prompt = '合同续约条款说明'.repeat(20);
        const result = await provider().complete(request({ prompt }));
        const text = defaultAnswer(SYSTEM.length + prompt.length);
        expect(result.usage).toEqual({ inputTokens: sentBound(SYSTEM, prompt), outputTokens: Buffer.byteLength(text) });
        expect(result.usageEstimated).toBe(true);
      },
    );

    it.each(['partial', 'sparse'] as const)(
      'usage with a count null or left out (%s): the reported count is kept, the other estimated, never NaN',
      async (usage) => {
        double.setHabits({ usage });
        const result = await provider().complete(request());
        const text = defaultAnswer(promptChars);
        expect(result.usage).toEqual({ inputTokens: sentBound(SYSTEM, PROMPT), outputTokens: doubleTokenCount(text) });
        expect(result.usageEstimated).toBe(true);
      },
    );

    it('an estimate of the answer never exceeds the max_tokens it was asked with', async () => {
      double.setHabits({ usage: 'omit' });
      const result = await provider().complete(request({ maxTokens: 3 }));
      expect(result.usage.outputTokens).toBe(3);
    });

    it('usage reported in full is taken as it is, unflagged', async () => {
      const result = await provider().complete(request());
      expect(result.usageEstimated).toBeUndefined();
    });

    it('a streamed answer with no usage chunk is estimated and flagged too', async () => {
      double.setHabits({ usage: 'omit' });
      const result = await provider({ stream: true }).complete(request());
      expect(result.usage.inputTokens).toBe(sentBound(SYSTEM, PROMPT));
      expect(result.usageEstimated).toBe(true);
    });
  });

  describe("servers' own words for how an answer ended", () => {
    it.each(['eos', 'eos_token', 'stop_sequence', 'end_turn', 'STOP'])(
      'finish_reason "%s" is an answer that stopped, taken at the first attempt',
      async (finishReason) => {
        double.setHabits({ finishReason });
        const result = await provider().complete(request());
        expect(result).toMatchObject({ text: defaultAnswer(promptChars), finishReason: 'stop' });
        expect(double.completionRequests()).toHaveLength(1);
      },
    );

    it.each(['max_tokens', 'model_length'])(
      'finish_reason "%s" is an answer cut at its limit',
      async (finishReason) => {
        double.setHabits({ finishReason });
        expect((await provider().complete(request())).finishReason).toBe('length');
      },
    );

    it('a whole answer without a finish_reason arrived whole: it stopped, or reached the cap it was asked with', async () => {
      double.setHabits({ finishReason: null });
      expect((await provider().complete(request())).finishReason).toBe('stop');
      expect((await provider().complete(request({ maxTokens: 3 }))).finishReason).toBe('length');
      // Each taken at once: not retried as an answer cut off.
      expect(double.completionRequests()).toHaveLength(2);
    });

    it('a stream that ends without one is still an answer cut off', async () => {
      double.setHabits({ finishReason: null });
      const err = await rejection(provider({ stream: true, maxRetries: 0 }).complete(request()));
      expect(err).toMatchObject({ code: 'connection', retryable: true });
    });

    it('finish_reason "error" (OpenRouter: its upstream failed mid-answer) is a server error, tried again', async () => {
      double.setHabits({ finishReason: 'error' });
      const err = await rejection(provider({ maxRetries: 1 }).complete(request()));
      expect(err).toMatchObject({ code: 'server_error', retryable: true });
      expect(double.completionRequests()).toHaveLength(2);
    });
  });

  describe('an answer in another shape', () => {
    it("content in parts is its text parts' text, the thinking part left out", async () => {
      double.setHabits({ content: 'parts' });
      const result = await provider().complete(request());
      expect(result.text).toBe(defaultAnswer(promptChars));
    });

    it("a model's refusal is no answer to a task's prompt (never asked again), and a chat item's own", async () => {
      double.setHabits({ refuse: true });
      const err = await rejection(provider().complete(request()));
      expect(err).toMatchObject({ code: 'model_refused', retryable: false });
      expect(err.message).not.toMatch(/can't help/);
      expect(double.completionRequests()).toHaveLength(1);
      const chat = { messages: [{ role: 'user' as const, content: PROMPT }] };
      expect((await provider().complete(request({ chat }))).text).toBe('');
    });

    it('null content (only reasoning written) is an empty answer', async () => {
      double.setHabits({ content: 'null' });
      expect((await provider().complete(request())).text).toBe('');
    });

    it('an error in an HTTP 200 body (OpenRouter) is read as the HTTP error it stands for, never quoting it', async () => {
      const said = (code: number, message: string) => {
        double.setHabits({ errorInBody: { code, message } });
        return rejection(provider({ maxRetries: 0 }).complete(request()));
      };
      const limited = await said(429, 'Rate limit exceeded: free-models-per-day');
      expect(limited).toMatchObject({ code: 'rate_limited', retryable: true });
      expect(limited.message).not.toMatch(/free-models/);
      expect(await said(502, 'Upstream error')).toMatchObject({ code: 'server_error', retryable: true });
      expect(await said(400, "This endpoint's maximum context length is 8192 tokens.")).toMatchObject({
        code: 'context_exceeded',
        retryable: false,
      });
      expect(await said(402, 'Insufficient credits')).toMatchObject({ retryable: false });
    });
  });

  describe('reasoning written into the content', () => {
    it.each([
      ['a <think> block before it', '<think>\nThe user wants a line.\n</think>\n\nThe renewal is yearly.'],
      [
        "only the block's end (R1's template opens it in the prompt)",
        'The user wants a line.\n</think>\n\nThe renewal is yearly.',
      ],
    ])('the answer is what follows %s', async (_, written) => {
      double.setResponder(() => written);
      expect((await provider().complete(request())).text).toBe('The renewal is yearly.');
    });

    it('reasoning never closed is no answer; text without any is the answer as it is', async () => {
      double.setResponder(() => '<think>The user wants');
      expect((await provider().complete(request())).text).toBe('');
      double.setResponder(() => 'Use <think> tags? No: the renewal is yearly.');
      expect((await provider().complete(request())).text).toBe('Use <think> tags? No: the renewal is yearly.');
    });

    it('streamed, too', async () => {
      double.setResponder(() => '<think>The user wants a line.</think>The renewal is yearly.');
      expect((await provider({ stream: true }).complete(request())).text).toBe('The renewal is yearly.');
    });
  });

  describe('streaming', () => {
    it('assembles the streamed text and takes usage from the final chunk', async () => {
      const result = await provider({ stream: true }).complete(request());

      const text = defaultAnswer(promptChars);
      expect(result).toEqual({
        text,
        usage: { inputTokens: Math.ceil(promptChars / 4), outputTokens: doubleTokenCount(text) },
        model: 'double-model',
        finishReason: 'stop',
        attemptMs: expect.any(Number),
      });
      expect(double.completionRequests()[0].body).toMatchObject({
        stream: true,
        stream_options: { include_usage: true },
      });
    });

    it('reports finishReason "length" from the stream', async () => {
      const result = await provider({ stream: true }).complete(request({ maxTokens: 2 }));
      expect(result.finishReason).toBe('length');
    });

    it('rejects a stream cut mid-answer rather than returning part of it', async () => {
      double.failNext(1, { cutStream: true });
      const err = await rejection(provider({ stream: true, maxRetries: 0 }).complete(request()));
      expect(err).toMatchObject({ code: 'connection', retryable: true });
    });

    it('retries a cut stream and returns the whole answer', async () => {
      double.failNext(1, { cutStream: true });
      const result = await provider({ stream: true, maxRetries: 1 }).complete(request());
      expect(result.text).toBe(defaultAnswer(promptChars));
      expect(double.completionRequests()).toHaveLength(2);
    });

    it('aborts a stream when the caller aborts', async () => {
      double.failNext(1, { hang: true });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const err = await rejection(provider({ stream: true }).complete(request({ signal: controller.signal })));
      expect(err.code).toBe('aborted');
    });
  });

  it('rejects a plain answer whose body was cut midway', async () => {
    double.failNext(1, { cutStream: true });
    const err = await rejection(provider({ maxRetries: 0 }).complete(request()));
    expect(err).toMatchObject({ code: 'connection', retryable: true });
  });
});
