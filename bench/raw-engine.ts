import {
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  LlamaChatSession,
  getLlama,
  resolveChatWrapper,
} from 'node-llama-cpp';
import type { Prompt } from '#libs/jobs';

export interface EngineRun {
  /** Generated tokens as the sequences' TokenMeters counted them. */
  outputTokens: number;
  inputTokens: number;
  ms: number;
  tokensPerSec: number;
}

export interface EngineContextOptions {
  sequences: number;
  threads: number;
  contextSize: number;
}

/**
 * The limit the queue is measured against: node-llama-cpp in this process, one model, one context
 * with N sequences, N lanes each taking the next prompt as soon as its previous one is done — the
 * same chat turn the worker's LocalModelProvider runs (system + prompt through the model's chat
 * template, maxTokens, history cleared after), with nothing in between: no Redis, no BullMQ, no HTTP.
 */
export class RawEngine {
  private constructor(
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly chatWrapper: ChatWrapper,
  ) {}

  /** `maxThreads` caps every context of this Llama; contexts then ask for their own `threads`. */
  static async load(modelPath: string, maxThreads: number): Promise<RawEngine> {
    // build "never", as the worker: prebuilt binaries only.
    const llama = await getLlama({ gpu: 'auto', build: 'never', maxThreads });
    try {
      const model = await llama.loadModel({ modelPath });
      return new RawEngine(llama, model, resolveChatWrapper(model));
    } catch (error) {
      await llama.dispose();
      throw error;
    }
  }

  get device(): string {
    return this.llama.gpu === false ? 'cpu' : this.llama.gpu;
  }

  /** The GPU's name and VRAM (null on CPU), recorded with a GPU run. */
  async gpu(): Promise<{ names: string[]; vramTotalBytes: number } | null> {
    if (this.llama.gpu === false) return null;
    return { names: await this.llama.getGpuDeviceNames(), vramTotalBytes: (await this.llama.getVramState()).total };
  }

  async open(opts: EngineContextOptions): Promise<RawContext> {
    const context = await this.model.createContext({
      contextSize: opts.contextSize,
      sequences: opts.sequences,
      threads: opts.threads,
    });
    return new RawContext(context, this.chatWrapper);
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
    await this.llama.dispose();
  }
}

export class RawContext {
  private readonly sequences: LlamaContextSequence[];

  constructor(
    private readonly context: LlamaContext,
    private readonly chatWrapper: ChatWrapper,
  ) {
    this.sequences = Array.from({ length: context.totalSequences }, () => context.getSequence());
  }

  /** Runs every prompt, each sequence pulling the next from one shared cursor until none are left. */
  async generate(prompts: readonly Prompt[]): Promise<EngineRun> {
    let next = 0;
    let outputTokens = 0;
    let inputTokens = 0;
    const t0 = performance.now();
    await Promise.all(
      this.sequences.map(async (sequence) => {
        for (let i = next++; i < prompts.length; i = next++) {
          const used = await this.turn(sequence, prompts[i]);
          outputTokens += used.usedOutputTokens;
          inputTokens += used.usedInputTokens;
        }
      }),
    );
    const ms = performance.now() - t0;
    return { outputTokens, inputTokens, ms, tokensPerSec: (outputTokens / ms) * 1000 };
  }

  dispose(): Promise<void> {
    return this.context.dispose();
  }

  private async turn(sequence: LlamaContextSequence, prompt: Prompt) {
    const session = new LlamaChatSession({
      contextSequence: sequence,
      chatWrapper: this.chatWrapper,
      autoDisposeSequence: false,
    });
    try {
      session.setChatHistory([{ type: 'system', text: prompt.system }]);
      const before = sequence.tokenMeter.getState();
      await session.promptWithMeta(prompt.prompt, { maxTokens: prompt.maxTokens });
      return sequence.tokenMeter.diff(before);
    } finally {
      session.dispose({ disposeSequence: false });
      await sequence.clearHistory();
    }
  }
}
