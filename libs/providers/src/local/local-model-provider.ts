import { randomInt } from 'node:crypto';
import { basename } from 'node:path';
import {
  type ChatHistoryItem,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  type LlamaGrammar,
  LlamaChatSession,
  getLlama,
} from 'node-llama-cpp';
import {
  type ChatCall,
  type CompletionRequest,
  type CompletionResult,
  type InferenceProvider,
  ProviderError,
} from '../completion.js';
import { boundedJsonSchema } from './bounded-json-schema.js';
import { classifyEngineError, type EngineStage } from './engine-errors.js';
import type { EngineLogger } from './engine-log.js';
import { linkSignals, providerStopController } from './linked-signal.js';
import { disposeLlama, noteFailedLoad } from './llama-disposal.js';
import { SequencePool } from './sequence-pool.js';
import { chatWrapperFor, type ChatWrapperChoice } from './chat-wrapper.js';
import { chatHistory, renderedPromptTokens, systemHistory } from './rendered-prompt.js';

export interface LocalModelOptions {
  modelPath: string;
  /**
   * CPU threads for evaluation. Set it explicitly: node-llama-cpp's default (max(cores, 4)) is
   * 20–100× slower on a 2-vCPU machine, where ggml's spinning threads starve each other.
   */
  threads: number;
  /** Tokens per sequence (node-llama-cpp allocates contextSize × sequences KV cells). */
  contextSize: number;
  /** Completions that run at once; node-llama-cpp batches their tokens into shared decodes. */
  sequences: number;
  gpu?: false | 'auto' | 'cuda' | 'vulkan' | 'metal';
  /** Reported as CompletionResult.model; defaults to the file's base name without `.gguf`. */
  name?: string;
  /** A Llama shared by several models in one process; the provider then leaves it open on close(). */
  llama?: Llama;
  /** How prompts are laid out (chatWrapperFor); default 'auto', from the file's own chat template. */
  chatWrapper?: ChatWrapperChoice;
  /** Where the engine this provider opens writes llama.cpp's log; default the console. Unused with `llama`. */
  engineLog?: EngineLogger;
  /** Aborted (the process is stopping): the load stops as soon as llama.cpp lets it, and load() rejects. */
  signal?: AbortSignal;
}

/**
 * One engine per process: build "never" uses the prebuilt binaries; compiling llama.cpp at start-up is
 * never wanted.
 */
export function openLlama(gpu: LocalModelOptions['gpu'], threads: number, engineLog?: EngineLogger): Promise<Llama> {
  return getLlama({ gpu: gpu ?? 'auto', build: 'never', maxThreads: threads, ...(engineLog && { logger: engineLog }) });
}

/** What load() hands the provider: the engine, model and context it opened, and whether it owns the engine. */
interface LoadedModel {
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  chatWrapper: ChatWrapper;
  name: string;
  /** False for a Llama shared through LocalModelOptions.llama: close() then leaves it open. */
  ownsLlama: boolean;
}

/** How long close() lets aborted completions unwind before disposing the engine under them. */
const CLOSE_DRAIN_MS = 10_000;
/** How long a load that failed waits for the engine it opened for itself to be disposed (disposeLlama). */
const OWNED_ENGINE_DISPOSE_MS = 2_000;

/**
 * Schema grammars a provider keeps compiled (GrammarCache). A batch's items share their task's schema, so few are
 * in use at a time; chat items may each bring another.
 */
const GRAMMAR_CACHE_SIZE = 64;

/**
 * Runs completions on a GGUF model in this process through node-llama-cpp: one Llama, one
 * model, one context with `sequences` sequences, each serving one completion at a time.
 */
export class LocalModelProvider implements InferenceProvider {
  readonly name: string;
  readonly sequences: number;
  /** "cpu", or the GPU backend llama.cpp uses ("cuda", "vulkan", "metal"). */
  readonly device: string;
  /** Tokens one sequence holds: the prompt (as the chat template renders it) plus maxTokens. */
  readonly contextSize: number;

  private readonly pool: SequencePool<LlamaContextSequence>;
  private readonly shutdown = providerStopController();
  private readonly grammars: GrammarCache;
  private jsonObjectGrammar?: Promise<LlamaGrammar>;
  private closing?: Promise<void>;

  private readonly llama: Llama;
  private readonly model: LlamaModel;
  private readonly context: LlamaContext;
  private readonly chatWrapper: ChatWrapper;

  /** How prompts are laid out for the model: node-llama-cpp's name for the chat wrapper in use ("ChatML", …). */
  get chatWrapperName(): string {
    return this.chatWrapper.wrapperName;
  }
  private readonly ownsLlama: boolean;

  private constructor({ llama, model, context, chatWrapper, name, ownsLlama }: LoadedModel) {
    this.llama = llama;
    this.model = model;
    this.context = context;
    this.chatWrapper = chatWrapper;
    this.ownsLlama = ownsLlama;
    this.name = name;
    this.sequences = context.totalSequences;
    this.contextSize = context.contextSize;
    this.device = llama.gpu === false ? 'cpu' : llama.gpu;
    this.pool = new SequencePool(Array.from({ length: this.sequences }, () => context.getSequence()));
    // User schemas are checked at run time by the engine; the static type only fits literal schemas.
    this.grammars = new GrammarCache((schema) => llama.createGrammarForJsonSchema(schema as never));
  }

  static async load(opts: LocalModelOptions): Promise<LocalModelProvider> {
    for (const key of ['threads', 'contextSize', 'sequences'] as const) {
      if (!Number.isSafeInteger(opts[key]) || opts[key] < 1) {
        const message = `local model option ${key} must be a positive integer, got ${opts[key]}`;
        throw new ProviderError(message, false, 'invalid_config');
      }
    }
    const name = opts.name ?? basename(opts.modelPath).replace(/\.gguf$/i, '');
    let llama: Llama | undefined;
    let model: LlamaModel | undefined;
    try {
      llama = opts.llama ?? (await openLlama(opts.gpu ?? 'auto', opts.threads, opts.engineLog));
      model = await llama.loadModel({ modelPath: opts.modelPath, loadSignal: opts.signal });
      const context = await model.createContext({
        contextSize: opts.contextSize,
        sequences: opts.sequences,
        threads: opts.threads,
        createSignal: opts.signal,
      });
      // Resolved once from the model's own chat template (ChatML, Llama 3, Qwen, ...).
      const chatWrapper = chatWrapperFor(model, opts.chatWrapper);
      return new LocalModelProvider({ llama, model, context, chatWrapper, name, ownsLlama: !opts.llama });
    } catch (error) {
      await model?.dispose().catch(() => undefined);
      // A model that failed to load may keep the engine from ever finishing its dispose (disposeLlama).
      if (llama && !model) noteFailedLoad(llama);
      if (!opts.llama && llama) await disposeLlama(llama, OWNED_ENGINE_DISPOSE_MS).catch(() => undefined);
      const { code, retryable } = classifyEngineError(error);
      const message = error instanceof Error ? error.message : String(error);
      throw new ProviderError(
        `could not load local model "${name}" from ${opts.modelPath}: ${message}`,
        code === 'out_of_memory' && retryable,
        code === 'out_of_memory' ? code : 'model_load_failed',
      );
    }
  }

  /**
   * Takes a free sequence (waiting for one if all are busy), runs one chat turn — system, then
   * prompt — and gives the sequence back with its history cleared, on success, failure or abort.
   *
   * Usage is what OpenAI-compatible servers report. inputTokens: the rendered prompt in the model's tokens, the
   * count that admitted it (and intake's). Not the sequence's TokenMeter, which counts a token as "output" when its
   * logits were computed, so it files the prompt's last token, whose logits yield the first answer token, as output
   * and reads one short. outputTokens: that meter's output count over the turn, once per sampled token — the
   * generated tokens, an end-of-turn token that stops the turn included.
   */
  async complete(req: CompletionRequest): Promise<CompletionResult> {
    if (this.shutdown.signal.aborted) throw closedError(this.name);
    if (!Number.isSafeInteger(req.maxTokens) || req.maxTokens < 1) {
      throw new ProviderError(`item ${req.itemRef}: maxTokens must be a positive integer`, false, 'invalid_request');
    }
    const { history, prompt } = req.chat
      ? chatHistory(req.chat.messages)
      : { history: systemHistory(req.system), prompt: req.prompt };

    const { signal, detach } = linkSignals(req.signal, this.shutdown.signal);
    let sequence: LlamaContextSequence;
    let promptTokens: number;
    try {
      promptTokens = this.assertFits(req, history, prompt);
      sequence = await this.pool.acquire(signal);
    } catch (error) {
      detach();
      throw this.toProviderError(error, req);
    }
    let session: LlamaChatSession | undefined;
    try {
      session = new LlamaChatSession({
        contextSequence: sequence,
        chatWrapper: this.chatWrapper,
        autoDisposeSequence: false,
      });
      session.setChatHistory(history);
      const before = sequence.tokenMeter.getState();
      const grammar = await this.grammarOf(req);
      const result = await session.promptWithMeta(prompt, {
        maxTokens: req.maxTokens,
        signal,
        grammar,
        ...(req.chat ? samplingOf(req.chat) : {}),
      });
      const used = sequence.tokenMeter.diff(before);
      return {
        text: result.responseText,
        usage: { inputTokens: promptTokens, outputTokens: used.usedOutputTokens },
        model: this.name,
        finishReason: result.stopReason === 'maxTokens' ? 'length' : 'stop',
      };
    } catch (error) {
      throw this.toProviderError(error, req);
    } finally {
      detach();
      session?.dispose({ disposeSequence: false });
      await sequence.clearHistory().catch(() => undefined); // fails only once the context is disposed
      this.pool.release(sequence);
    }
  }

  /**
   * What the answer is held to. A JSON schema: a grammar that only lets the model write JSON matching it
   * (node-llama-cpp's GBNF from JSON Schema), so a classification or extraction has its shape by construction —
   * not necessarily finite numbers (the grammar allows `9e879`), which the answer's check refuses. The schema is
   * first bounded from maxTokens, so a constrained answer can always close before the limit (issue 12).
   * A chat item asking for JSON without a schema (response_format json_object, or json_schema without one): any
   * JSON object (llama.cpp's json.gbnf); left free, a local model may answer in prose, which the answer's check
   * rejects on every attempt. A schema the grammar compiler refuses is refused again on every attempt.
   */
  private async grammarOf(req: CompletionRequest): Promise<LlamaGrammar | undefined> {
    const format = req.chat?.responseFormat?.type;
    try {
      if (req.jsonSchema) return await this.grammars.for(boundedJsonSchema(req.jsonSchema, req.maxTokens));
      if (format === 'json_object' || format === 'json_schema') return await this.anyJsonObject();
      return undefined;
    } catch (error) {
      throw this.toProviderError(error, req, 'grammar');
    }
  }

  /** llama.cpp's JSON grammar, read once; a failed read is not kept. */
  private anyJsonObject(): Promise<LlamaGrammar> {
    if (!this.jsonObjectGrammar) {
      const grammar = this.llama.getGrammarFor('json');
      grammar.catch(() => (this.jsonObjectGrammar = undefined));
      this.jsonObjectGrammar = grammar;
    }
    return this.jsonObjectGrammar;
  }

  /** Tokens the model's tokenizer makes of `text` (no BOS, no chat template). */
  countTokens(text: string): number {
    return this.model.tokenize(text).length;
  }

  /**
   * Tokens the request's prompt takes in a sequence: system and prompt rendered by the chat template,
   * exactly as complete() sends them.
   */
  promptTokens(system: string, prompt: string): number {
    return this.renderedTokens(systemHistory(system), prompt);
  }

  /** Tokens one sequence holds (the per-sequence context size). */
  get contextTokens(): number {
    return this.contextSize;
  }

  busySequences(): number {
    return this.pool.busy;
  }

  /** Sequences that may run at once now (≤ sequences): lowered when device memory runs short. */
  get activeSequences(): number {
    return this.pool.limit;
  }

  setActiveSequences(n: number): void {
    this.pool.setLimit(n);
  }

  /** Bytes of weights this model holds, for reporting. */
  get modelBytes(): number {
    return this.model.size;
  }

  /**
   * Aborts running completions (they fail with retryable code "closed"), rejects waiting ones,
   * lets them unwind (bounded), then disposes context, model and Llama. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.dispose();
    return this.closing;
  }

  private async dispose(): Promise<void> {
    const reason = closedError(this.name);
    this.shutdown.abort(reason);
    this.pool.close(reason);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.pool.whenIdle(), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_DRAIN_MS)))]);
    clearTimeout(timer);
    await this.context.dispose();
    await this.model.dispose();
    if (this.ownsLlama) await this.llama.dispose();
  }

  /**
   * Refuses a request whose rendered prompt plus maxTokens exceeds the sequence's context, as
   * OpenAI-compatible servers do. Left to itself node-llama-cpp would shift the context, silently
   * dropping part of the prompt. Returns the prompt's tokens, which its usage reports.
   */
  private assertFits(req: CompletionRequest, history: readonly ChatHistoryItem[], prompt: string): number {
    let promptTokens: number;
    try {
      promptTokens = this.renderedTokens(history, prompt);
    } catch (error) {
      throw this.toProviderError(error, req, 'template');
    }
    if (promptTokens + req.maxTokens > this.contextSize) {
      throw new ProviderError(
        `item ${req.itemRef}: prompt (${promptTokens} tokens) plus maxTokens (${req.maxTokens}) exceeds the ` +
          `local model's context of ${this.contextSize} tokens`,
        false,
        'context_overflow',
      );
    }
    return promptTokens;
  }

  /** The prompt as the model's chat template renders it, after `history`, up to where the answer starts. */
  private renderedTokens(history: readonly ChatHistoryItem[], prompt: string): number {
    return renderedPromptTokens(this.chatWrapper, this.model.tokenizer, history, prompt);
  }

  private toProviderError(error: unknown, req: CompletionRequest, stage: EngineStage = 'generation'): ProviderError {
    if (error instanceof ProviderError) return error;
    if (req.signal?.aborted) return new ProviderError(`item ${req.itemRef}: completion aborted`, false, 'aborted');
    if (this.shutdown.signal.aborted) return closedError(this.name);
    const { code, retryable } = classifyEngineError(error, stage);
    const message = error instanceof Error ? error.message : String(error);
    const failed = {
      template: `the chat template of local model "${this.name}" refused the messages`,
      grammar: `local model "${this.name}" could not make a grammar of the answer's JSON schema`,
      generation: `local model "${this.name}" failed`,
    }[stage];
    return new ProviderError(`item ${req.itemRef}: ${failed}: ${message}`, retryable, code);
  }
}

/**
 * A chat item's sampling as node-llama-cpp takes it; absent fields keep the engine's defaults, except the seed. Left
 * to itself the engine seeds each completion from the clock in whole seconds (`Date.now() / 1000`), so every item
 * sampled in the same second drew the same numbers: a batch asking one prompt several times at a temperature (how a
 * client gets several answers, `n` being refused) got one answer several times. Without a seed each completion draws
 * its own, as OpenAI and vLLM sample; the same seed still gives the same answer.
 */
function samplingOf(chat: ChatCall): {
  temperature?: number;
  topP?: number;
  seed: number;
  customStopTriggers?: string[];
} {
  return {
    ...(chat.temperature === undefined ? {} : { temperature: chat.temperature }),
    ...(chat.topP === undefined ? {} : { topP: chat.topP }),
    seed: chat.seed === undefined ? randomInt(2 ** 31) : samplerSeed(chat.seed),
    ...(chat.stop === undefined || chat.stop.length === 0 ? {} : { customStopTriggers: chat.stop }),
  };
}

/**
 * Seeds llama.cpp's sampler keeps as given: 32-bit unsigned integers but 0xFFFFFFFF, which llama.cpp reads as "draw
 * a random seed" (LLAMA_DEFAULT_SEED).
 */
const SAMPLER_SEEDS = 2 ** 32 - 1;

/**
 * A request's seed as llama.cpp's sampler takes it: any integer (OpenAI takes any 64-bit one) brought into
 * [0, 0xFFFFFFFE] by its remainder. Passed as it was, node-llama-cpp clamped every negative seed to 0 (a client
 * drawing seeds at random sends half of them negative, and got seed 0's answer for each), and 4294967295 sampled
 * afresh each time, one seed giving different answers.
 */
function samplerSeed(seed: number): number {
  return ((seed % SAMPLER_SEEDS) + SAMPLER_SEEDS) % SAMPLER_SEEDS;
}

/**
 * Grammars compiled from JSON schemas, by schema, the `bound` most recently used kept. Chat items bring their own
 * schemas, so without a bound a long-running worker would keep a native grammar for every schema it ever saw. A
 * grammar dropped here is not disposed (LlamaGrammar has no dispose): its native grammar is freed once the
 * completions still running with it let go of it. A failed compile is not kept.
 */
export class GrammarCache {
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();

  constructor(
    private readonly compile: (schema: Record<string, unknown>) => Promise<LlamaGrammar>,
    readonly bound = GRAMMAR_CACHE_SIZE,
  ) {}

  get size(): number {
    return this.grammars.size;
  }

  for(schema: Record<string, unknown>): Promise<LlamaGrammar> {
    const key = JSON.stringify(schema);
    let grammar = this.grammars.get(key);
    if (grammar) {
      // A Map iterates in insertion order: set again, the grammar is the most recently used.
      this.grammars.delete(key);
    } else {
      const compiling = this.compile(schema);
      compiling.catch(() => this.grammars.get(key) === compiling && this.grammars.delete(key));
      grammar = compiling;
    }
    this.grammars.set(key, grammar);
    if (this.grammars.size > this.bound) this.grammars.delete(this.grammars.keys().next().value!);
    return grammar;
  }
}

function closedError(name: string): ProviderError {
  return new ProviderError(`local model provider "${name}" is closed`, true, 'closed');
}
