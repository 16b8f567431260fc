import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getLlama, resolveChatWrapper } from 'node-llama-cpp';
import { ensureGeneratedModel } from '#libs/gguf';
import { LocalModelProvider } from './local-model-provider.js';
import { keptEngineLog } from './engine-log.js';
import { VocabTokenizers } from './vocab-tokenizers.js';

// llama.cpp's log reaches JavaScript late, maybe after jest closed this file's console: kept here instead.
const engineLog = keptEngineLog();

describe('VocabTokenizers (the generated tiny model, vocabulary only)', () => {
  let provider: LocalModelProvider;
  let tokenizers: VocabTokenizers;
  const system = 'You summarise documents in one sentence.';
  const prompt = 'Summarise: the quarterly report shows revenue up and costs down, and the outlook is steady.';

  beforeAll(async () => {
    const modelPath = await ensureGeneratedModel('tiny');
    provider = await LocalModelProvider.load({
      modelPath,
      threads: 1,
      contextSize: 1024,
      sequences: 1,
      gpu: false,
      engineLog: engineLog.logger,
    });
    tokenizers = await VocabTokenizers.open([{ name: 'tiny', modelPath }], engineLog.logger);
  });

  afterAll(async () => {
    await tokenizers?.close();
    await provider?.close();
  });

  it('counts a prompt exactly as the loaded model reads it, chat template included', async () => {
    const counted = tokenizers.count(system, prompt);
    expect(counted).toBe(provider.promptTokens(system, prompt));
    // The template's own tokens are in it: more than the two texts alone.
    expect(counted!).toBeGreaterThan(provider.countTokens(system) + provider.countTokens(prompt));
    // And what the run reports as its prompt: the same count, as an OpenAI-compatible server reports prompt_tokens.
    const run = await provider.complete({ itemRef: 'i', sensitivity: 'public', system, prompt, maxTokens: 2 });
    expect(run.usage.inputTokens).toBe(counted);
  });

  it('counts as a tokenizer that remembers nothing would, item after item of one batch', async () => {
    // The reference: the model's chat template rendered and tokenized afresh, the way node-llama-cpp does.
    const llama = await getLlama({ gpu: false, build: 'never', maxThreads: 1, logger: engineLog.logger });
    const model = await llama.loadModel({ modelPath: await ensureGeneratedModel('tiny'), vocabOnly: true });
    try {
      const wrapper = resolveChatWrapper(model);
      const fresh = (sys: string, text: string) =>
        wrapper
          .generateContextState({
            chatHistory: [
              ...(sys ? [{ type: 'system' as const, text: sys }] : []),
              { type: 'user', text },
              { type: 'model', response: [] },
            ],
          })
          .contextText.tokenize(model.tokenizer).length;
      const texts = [
        ...Array.from({ length: 50 }, (_, i) => `${prompt} #${i}`),
        ' leading and trailing spaces ',
        'text that names <|im_end|> and <|im_start|>user markers',
        '',
        prompt.repeat(60), // longer than what is remembered
      ];
      for (const sys of [system, '', system.toUpperCase()])
        for (const text of [...texts, ...texts]) expect(tokenizers.count(sys, text)).toBe(fresh(sys, text));
    } finally {
      await model.dispose();
      await llama.dispose();
    }
  });

  it('counts for the model an item is pinned to, and answers null for a model it has not opened', () => {
    expect(tokenizers.count(system, prompt, 'tiny')).toBe(tokenizers.count(system, prompt));
    expect(tokenizers.count(system, prompt, 'elsewhere')).toBeNull();
  });

  it('lays prompts out with the wrapper the model is pinned to, as the worker running it does', async () => {
    const modelPath = await ensureGeneratedModel('tiny');
    const choices = ['llama3', 'jinjaTemplate'] as const;
    const pinned = await VocabTokenizers.open(
      choices.map((chatWrapper) => ({ name: chatWrapper, modelPath, chatWrapper })),
      engineLog.logger,
    );
    try {
      for (const chatWrapper of choices) {
        const running = await LocalModelProvider.load({
          modelPath,
          threads: 1,
          contextSize: 256,
          sequences: 1,
          gpu: false,
          chatWrapper,
          engineLog: engineLog.logger,
        });
        try {
          expect(pinned.count(system, prompt, chatWrapper)).toBe(running.promptTokens(system, prompt));
        } finally {
          await running.close();
        }
      }
      // Llama 3's headers are not ChatML's markers; the file's own template as Jinja has no BOS before it.
      const counts = [tokenizers.count(system, prompt), ...choices.map((c) => pinned.count(system, prompt, c))];
      expect(new Set(counts).size).toBe(3);
    } finally {
      await pinned.close();
    }
  });

  it('refuses to open a file that is not there', async () => {
    await expect(
      VocabTokenizers.open([{ name: 'missing', modelPath: '/nonexistent/model.gguf' }], engineLog.logger),
    ).rejects.toThrow();
  });
});
