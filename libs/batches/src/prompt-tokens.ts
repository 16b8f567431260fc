/**
 * Counts an item's prompt in tokens as a local model reads it: system and prompt rendered by the model's
 * chat template, through its own tokenizer. `model`: the local model the item is pinned to, else the
 * default one. null when this process has no tokenizer for that model.
 */
export type PromptTokenCounter = (system: string, prompt: string, model?: string) => number | null;

/**
 * The counter intake uses, set once the process has one: the API opens each local model's vocabulary
 * (apps/api IntakeTokenizer), a worker uses the models it serves. Until then, and for a model it has no
 * tokenizer for, count() answers null and the item's input is estimated (~4 characters a token).
 */
export class PromptTokens {
  private counter: PromptTokenCounter | null = null;

  use(counter: PromptTokenCounter | null): void {
    this.counter = counter;
  }

  count(system: string, prompt: string, model?: string): number | null {
    return this.counter ? this.counter(system, prompt, model) : null;
  }
}
