import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureGeneratedModel } from '#libs/gguf';
import { type CompletionRequest, ProviderError } from '../completion.js';
import { keptEngineLog } from './engine-log.js';
import { LocalModelProvider } from './local-model-provider.js';

// llama.cpp's log reaches JavaScript late, maybe after jest closed this file's console: kept here instead.
const engineLog = keptEngineLog().logger;

// The tiny generated model: random weights, real llama.cpp path. Its output rows for end-of-turn
// tokens are zero, so greedy decoding runs every completion to maxTokens.
const request = (overrides: Partial<CompletionRequest> = {}): CompletionRequest => ({
  itemRef: 'item-1',
  sensitivity: 'public',
  system: 'You summarise documents in one sentence.',
  prompt: 'Summarise: the quarterly report shows revenue up and costs down.',
  maxTokens: 16,
  ...overrides,
});

const rejection = async (promise: Promise<unknown>): Promise<ProviderError> => {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
};

describe('LocalModelProvider on the generated tiny model', () => {
  let modelPath: string;
  let provider: LocalModelProvider;

  beforeAll(async () => {
    modelPath = await ensureGeneratedModel('tiny');
    // One thread: on small models ggml's thread barrier costs more than a second core gives.
    provider = await LocalModelProvider.load({
      modelPath,
      threads: 1,
      contextSize: 1024,
      sequences: 2,
      gpu: false,
      engineLog,
    });
  });

  afterAll(async () => {
    await provider?.close();
  });

  it('loads with the requested sequences and names itself after the file', () => {
    expect(provider.name).toBe('tiny');
    expect(provider.sequences).toBe(2);
    expect(provider.device).toBe('cpu');
    expect(provider.busySequences()).toBe(0);
  });

  it('completes a chat turn with usage counted by the engine, stopping at maxTokens', async () => {
    const result = await provider.complete(request({ maxTokens: 16 }));
    expect(result.text.length).toBeGreaterThan(0);
    expect(result.model).toBe('tiny');
    expect(result.finishReason).toBe('length');
    expect(result.usage.outputTokens).toBe(16);
    expect(result.usage.inputTokens).toBeGreaterThan(provider.countTokens(request().prompt));

    const prompt = `${request().prompt} ${'More detail follows here. '.repeat(10)}`;
    const longer = await provider.complete(request({ prompt, maxTokens: 4 }));
    expect(longer.usage.outputTokens).toBe(4);
    expect(longer.usage.inputTokens).toBeGreaterThan(result.usage.inputTokens + 30);
  });

  it("reports the whole rendered prompt as input, in the model's tokens, as intake counted it", async () => {
    // What an OpenAI-compatible server reports as prompt_tokens: every token of the prompt as the chat template
    // renders it, the last one (whose logits give the first answer token) included.
    const { system, prompt } = request();
    const whole = provider.promptTokens(system, prompt);
    expect((await provider.complete(request({ maxTokens: 2 }))).usage.inputTokens).toBe(whole);
    const messages = [
      { role: 'system' as const, content: system },
      { role: 'user' as const, content: prompt },
    ];
    const chat = await provider.complete(request({ maxTokens: 2, chat: { messages } }));
    expect(chat.usage).toEqual({ inputTokens: whole, outputTokens: 2 });
  });

  it('counts the same input for the same request every time: the sequence is cleared between turns', async () => {
    const first = await provider.complete(request());
    const second = await provider.complete(request());
    expect(second.usage).toEqual(first.usage);
    expect(second.text).toBe(first.text);
  });

  it('runs two completions at once on two sequences and frees both', async () => {
    const running = [
      provider.complete(request({ itemRef: 'a' })),
      provider.complete(request({ itemRef: 'b', prompt: 'Another document.' })),
    ];
    expect(provider.busySequences()).toBe(2);
    const results = await Promise.all(running);
    expect(results.map((r) => r.usage.outputTokens)).toEqual([16, 16]);
    expect(provider.busySequences()).toBe(0);
  });

  it('queues a third completion until a sequence is free', async () => {
    const results = await Promise.all(
      ['a', 'b', 'c'].map((itemRef) => provider.complete(request({ itemRef, maxTokens: 8 }))),
    );
    expect(results).toHaveLength(3);
    expect(provider.busySequences()).toBe(0);
  });

  it('rejects an aborted completion with code "aborted", not retryable, and frees its sequence', async () => {
    const controller = new AbortController();
    const running = provider.complete(request({ maxTokens: 900, signal: controller.signal }));
    setTimeout(() => controller.abort(), 20);
    const error = await rejection(running);
    expect(error).toMatchObject({ code: 'aborted', retryable: false });
    expect(provider.busySequences()).toBe(0);
    await expect(provider.complete(request({ maxTokens: 2 }))).resolves.toMatchObject({ finishReason: 'length' });
  });

  it('rejects at once when the signal is already aborted, and while waiting for a sequence', async () => {
    expect(await rejection(provider.complete(request({ signal: AbortSignal.abort() })))).toMatchObject({
      code: 'aborted',
    });

    const blockers = [provider.complete(request({ maxTokens: 64 })), provider.complete(request({ maxTokens: 64 }))];
    const controller = new AbortController();
    const waiting = provider.complete(request({ signal: controller.signal }));
    controller.abort();
    expect(await rejection(waiting)).toMatchObject({ code: 'aborted', retryable: false });
    await Promise.all(blockers);
    expect(provider.busySequences()).toBe(0);
  });

  it('refuses a prompt that with maxTokens does not fit the context, rather than truncating it', async () => {
    const error = await rejection(provider.complete(request({ prompt: 'word '.repeat(2000) })));
    expect(error).toMatchObject({ code: 'context_overflow', retryable: false });
    expect(error.message).not.toContain('word word');
    expect(await rejection(provider.complete(request({ maxTokens: 1020 })))).toMatchObject({
      code: 'context_overflow',
    });
    expect(await rejection(provider.complete(request({ maxTokens: 0 })))).toMatchObject({
      code: 'invalid_request',
      retryable: false,
    });
  });

  it('closes a schema-constrained answer before maxTokens: its unbounded strings and arrays are bounded', async () => {
    const notes = { type: 'array', items: { type: 'string' } };
    const jsonSchema = { type: 'object', properties: { vendor: { type: 'string' }, notes, paid: { type: 'boolean' } } };
    for (const maxTokens of [48, 96]) {
      const prompt = 'Extract the vendor of: invoice from ACME.';
      const result = await provider.complete(request({ prompt, maxTokens, jsonSchema }));
      expect(result.finishReason).toBe('stop');
      expect(result.usage.outputTokens).toBeLessThanOrEqual(maxTokens);
      const value = JSON.parse(result.text);
      expect(Object.keys(value)).toEqual(['vendor', 'notes', 'paid']);
    }
  });

  it('holds a chat item asking for a JSON object to JSON, with no schema to build a grammar from', async () => {
    const chat = {
      messages: [{ role: 'user' as const, content: 'Describe the invoice from ACME as JSON.' }],
      responseFormat: { type: 'json_object' as const },
    };
    const result = await provider.complete(request({ maxTokens: 48, chat }));
    expect(result.finishReason).toBe('stop');
    expect(JSON.parse(result.text)).toEqual(expect.any(Object));
    // Free text is not held to JSON.
    const free = await provider.complete(request({ maxTokens: 48, chat: { messages: chat.messages } }));
    expect(free.text.trimStart()).not.toMatch(/^\{/);
  });

  it('samples a chat item without a seed afresh each time, and the same way each time with one', async () => {
    // Several items asking one prompt at a temperature, at once (within one second): how a client asks for several
    // answers, since n is refused. Each must be its own sample.
    const messages = [{ role: 'user' as const, content: 'Name a colour.' }];
    const sample = (seed?: number) =>
      provider.complete(
        request({ maxTokens: 16, chat: { messages, temperature: 1, ...(seed === undefined ? {} : { seed }) } }),
      );
    const unseeded = await Promise.all([sample(), sample(), sample()]);
    expect(new Set(unseeded.map((r) => r.text)).size).toBe(3);
    const seeded = await Promise.all([sample(7), sample(7), sample(7)]);
    expect(new Set(seeded.map((r) => r.text)).size).toBe(1);
    // Any integer is a seed, as OpenAI takes one: negative ones are seeds of their own, not all seed 0, and
    // 4294967295 (llama.cpp's "random seed") is one seed like any other.
    const texts = async (seeds: number[]) => (await Promise.all(seeds.map((s) => sample(s)))).map((r) => r.text);
    const [minusOne, minusTwo, zero, minusOneAgain] = await texts([-1, -2, 0, -1]);
    expect(minusOneAgain).toBe(minusOne);
    expect(new Set([minusOne, minusTwo, zero]).size).toBe(3);
    const [top, topAgain] = await texts([2 ** 32 - 1, 2 ** 32 - 1]);
    expect(topAgain).toBe(top);
  });

  it('counts tokens with the model tokenizer', () => {
    expect(provider.countTokens('')).toBe(0);
    expect(provider.countTokens('The customer signed the contract.')).toBeGreaterThan(3);
  });

  it('fails running and later completions with a retryable "closed" once closed', async () => {
    const other = await LocalModelProvider.load({
      modelPath,
      threads: 1,
      contextSize: 1024,
      sequences: 1,
      gpu: false,
      engineLog,
      name: 'closing',
    });
    const running = rejection(other.complete(request({ maxTokens: 900 })));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await other.close();
    expect(await running).toMatchObject({ code: 'closed', retryable: true });
    expect(await rejection(other.complete(request()))).toMatchObject({ code: 'closed', retryable: true });
    await other.close(); // idempotent
  });

  it('reports a missing model file as a non-retryable load failure', async () => {
    const loading = LocalModelProvider.load({
      modelPath: '/nonexistent/model.gguf',
      threads: 1,
      contextSize: 256,
      sequences: 1,
      gpu: false,
      engineLog,
    });
    const error = await rejection(loading);
    expect(error).toMatchObject({ code: 'model_load_failed', retryable: false });
  });

  it('refuses, not to be retried, messages the chat template refuses, and runs the next request', async () => {
    const path = await withChatTemplate(modelPath, REFUSING_TEMPLATE);
    const strict = await LocalModelProvider.load({
      modelPath: path,
      threads: 1,
      contextSize: 256,
      sequences: 1,
      gpu: false,
      engineLog,
      chatWrapper: 'jinjaTemplate',
    });
    try {
      const messages = [
        { role: 'assistant' as const, content: 'Hello.' },
        { role: 'user' as const, content: 'Summarise: revenue is up.' },
      ];
      const error = await rejection(strict.complete(request({ chat: { messages } })));
      expect(error).toMatchObject({ code: 'bad_request', retryable: false });
      expect(error.message).toContain('roles must alternate');
      expect(strict.busySequences()).toBe(0);
      await expect(strict.complete(request({ maxTokens: 2 }))).resolves.toMatchObject({ finishReason: 'length' });
    } finally {
      await strict.close();
      await rm(path, { force: true });
    }
  });
});

/** The generated model's chat template (ChatML), as libs/gguf writes it. */
const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** ChatML that raises, as Mistral's and Gemma's templates do, on a conversation the assistant opens. */
const REFUSING_TEMPLATE =
  "{% for m in messages %}{{raise_exception('roles must alternate') if loop.first and m.role=='assistant'}}" +
  '<|im_start|>{{m.role}}\n{{m.content}}<|im_end|>\n{% endfor %}<|im_start|>assistant\n';

/**
 * A copy of the model at `path` with `template` in place of its chat template, padded to the same length: a
 * GGUF string is stored with its length, and a string of the same length leaves every offset after it as it was.
 */
async function withChatTemplate(path: string, template: string): Promise<string> {
  const file = await readFile(path);
  const at = file.indexOf(CHATML_TEMPLATE);
  const padding = Buffer.byteLength(CHATML_TEMPLATE) - Buffer.byteLength(template);
  if (at < 0 || padding < 0) throw new Error('the generated model does not hold the expected chat template');
  file.write(template.replace('{{', `{{${' '.repeat(padding)}`), at);
  const copy = join(tmpdir(), `refusing-${randomUUID()}.gguf`);
  await writeFile(copy, file);
  return copy;
}
