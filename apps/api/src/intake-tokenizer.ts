import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { PromptTokens } from '#libs/batches';
import { ensureGeneratedModel } from '#libs/gguf';
import { VocabTokenizers } from '#libs/providers';

/**
 * Gives intake the local models' tokenizers: each model's GGUF opened vocabulary-only before the API
 * listens, so every accepted item's prompt is counted as the model that may run it reads it. An API host
 * without the model files (LOCAL_MODEL_PATH / LOCAL_MODELS paths) estimates instead, and says so.
 */
@Injectable()
export class IntakeTokenizer implements OnModuleInit, OnModuleDestroy {
  private readonly log = new Logger('intake');
  private tokenizers?: VocabTokenizers;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(PromptTokens) private readonly tokens: PromptTokens,
  ) {}

  async onModuleInit(): Promise<void> {
    const models = this.config.localModels;
    try {
      // The worker runs the generated demo model where none is configured; its file is the same here.
      const paths = await Promise.all(
        models.map(async (m) => ({
          name: m.name,
          modelPath: m.modelPath ?? (await ensureGeneratedModel('tiny')),
          chatWrapper: m.chatWrapper,
        })),
      );
      const tokenizers = await VocabTokenizers.open(paths);
      this.tokenizers = tokenizers;
      this.tokens.use((system, prompt, model) => tokenizers.count(system, prompt, model));
      this.log.log({
        msg: "item prompts are counted with the local models' tokenizers",
        models: models.map((m) => m.name),
      });
    } catch (error) {
      this.log.warn({
        msg: 'local model vocabularies could not be opened here: item input is estimated (~4 characters a token) and corrected by what completed items used',
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  async onModuleDestroy(): Promise<void> {
    this.tokens.use(null);
    await this.tokenizers?.close();
  }
}
