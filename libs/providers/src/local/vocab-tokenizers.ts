import { type ChatWrapper, type Llama, type LlamaModel, getLlama } from 'node-llama-cpp';
import { chatWrapperFor, type ChatWrapperChoice } from './chat-wrapper.js';
import type { EngineLogger } from './engine-log.js';
import { disposeLlama } from './llama-disposal.js';
import { renderedPromptTokens, systemHistory } from './rendered-prompt.js';

/** How long an open that failed waits for its engine to be disposed. */
const FAILED_OPEN_DISPOSE_MS = 2_000;

interface Vocabulary {
  model: LlamaModel;
  chatWrapper: ChatWrapper;
}

/**
 * The local models' tokenizers without their weights: each GGUF opened vocabulary-only (node-llama-cpp
 * `vocabOnly`: its metadata and vocabulary, no tensors), on the CPU. For a process that routes items but
 * runs none (the API): it counts an item's prompt exactly as the model that would run it reads it, chat
 * template included, in milliseconds, holding a few MB per model.
 */
export class VocabTokenizers {
  private constructor(
    private readonly llama: Llama,
    private readonly vocabularies: Map<string, Vocabulary>,
    private readonly defaultModel: string,
  ) {}

  /**
   * Opens every model in `models` (name → GGUF path, and the chat wrapper its worker lays prompts out with); the
   * first is the default for unpinned items. llama.cpp's log goes to `engineLog`, else the console.
   */
  static async open(
    models: ReadonlyArray<{ name: string; modelPath: string; chatWrapper?: ChatWrapperChoice }>,
    engineLog?: EngineLogger,
  ): Promise<VocabTokenizers> {
    if (models.length === 0) throw new Error('VocabTokenizers needs at least one model');
    // The CPU build and no threads of its own: tokenizing evaluates nothing.
    const llama = await getLlama({
      gpu: false,
      build: 'never',
      maxThreads: 1,
      ...(engineLog && { logger: engineLog }),
    });
    const vocabularies = new Map<string, Vocabulary>();
    try {
      for (const { name, modelPath, chatWrapper } of models) {
        const model = await llama.loadModel({ modelPath, vocabOnly: true });
        vocabularies.set(name, { model, chatWrapper: chatWrapperFor(model, chatWrapper) });
      }
    } catch (error) {
      for (const v of vocabularies.values()) await v.model.dispose().catch(() => undefined);
      // A model that failed to load may keep the engine's dispose from ever finishing (disposeLlama).
      await disposeLlama(llama, FAILED_OPEN_DISPOSE_MS).catch(() => undefined);
      throw error;
    }
    return new VocabTokenizers(llama, vocabularies, models[0].name);
  }

  /** Tokens of system + prompt as `model` (else the default model) reads them; null for a model not opened here. */
  count(system: string, prompt: string, model = this.defaultModel): number | null {
    const v = this.vocabularies.get(model);
    return v ? renderedPromptTokens(v.chatWrapper, v.model.tokenizer, systemHistory(system), prompt) : null;
  }

  async close(): Promise<void> {
    for (const v of this.vocabularies.values()) await v.model.dispose();
    await this.llama.dispose();
  }
}
