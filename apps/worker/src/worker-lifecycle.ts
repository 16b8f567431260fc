import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Llama } from 'node-llama-cpp';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig, EnginePoolConfig, LocalModelConfig } from '#libs/config';
import { ConfigError } from '#libs/domain';
import type { CloudProvider } from '#libs/providers';
import { ApiKeyFile, type ApiKeySource } from '#libs/providers';
import type { CloudProviderConfig } from '#libs/config';
import { disposeLlama, openLlama } from '#libs/providers';
import { ensureGeneratedModel } from '#libs/gguf';
import { shutdownPlan } from '#libs/lifecycle';
import { PromptTokens } from '#libs/batches';
import type { EnginePool } from './engine-pool.js';
import type { InferencePool } from './inference-pool.js';
import type { LocalModelPool } from './local-model-pool.js';
import type { ProviderBatchRunner } from './provider-batch-runner.js';
import { WORKER_PARTS, type WorkerParts } from './worker-composition.js';

/** The Nest token of the process's stop signal (ProcessStop.signal), which start-up reads between its steps. */
export const WORKER_STOPPING = Symbol('WorkerStopping');

/**
 * Brings the worker's pools up in order — each model loaded and its sequences computed, then
 * consuming — and down again: stop taking jobs, let running ones finish within the shutdown budget,
 * release the models and the engine. What it starts is built in worker-composition.ts.
 * A stop asked for during start-up (SIGTERM while a model loads) ends it at the next step: nothing more starts,
 * and what did is stopped like the rest once start-up returns (worker-process.ts closes the app then).
 */
@Injectable()
export class WorkerLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('worker');
  private readonly localPools: LocalModelPool[] = [];
  private readonly cloudPools: Array<{
    pool: InferencePool;
    provider: CloudProvider;
    batchRunner?: ProviderBatchRunner;
  }> = [];
  private readonly enginePools: Array<{ pool: EnginePool; provider: CloudProvider }> = [];
  private llama?: Llama;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(WORKER_PARTS) private readonly parts: WorkerParts,
    @Inject(PromptTokens) private readonly promptTokens: PromptTokens,
    @Inject(WORKER_STOPPING) private readonly stopping: AbortSignal,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.start();
    if (this.stopping.aborted)
      this.log.log({ msg: 'stop asked for during start-up: started nothing more', signal: this.stopping.reason });
  }

  /** Each step only while no stop was asked for: returns at the first step that finds one. */
  private async start(): Promise<void> {
    const { localModels, engine, cloudProviders } = this.config;
    const { watchdog, scheduleRunner, branchWriter } = this.parts;
    const stopping = this.stopping;
    const { models: served, engines } = this.served();
    if (served.length > 0) {
      if (stopping.aborted) return;
      this.llama = await openLlama(engine.gpu === 'none' ? false : engine.gpu, engine.threads);
      for (const model of served) {
        if (stopping.aborted) return;
        const modelPath = model.modelPath ?? (await this.demoModel());
        // Pushed even when a stop cut its load short: the pool is stopped (its 'loading' word taken back) at close.
        this.localPools.push(await this.parts.openLocalPool({ ...model, modelPath }, this.llama, stopping));
      }
    }
    // Schedule firings enter through intake here: their prompts are counted by the models this worker serves.
    const byName = new Map(this.localPools.flatMap((p) => (p.provider ? [[p.model.name, p.provider] as const] : [])));
    this.promptTokens.use(
      (system, prompt, model = localModels[0]?.name) => byName.get(model)?.promptTokens(system, prompt) ?? null,
    );
    for (const engine of engines) {
      if (stopping.aborted) return;
      const built = this.parts.enginePool(engine);
      this.enginePools.push(built);
      await built.pool.start(stopping);
    }
    for (const cloud of cloudProviders) {
      if (stopping.aborted) return;
      const { pool, provider, batchRunner } = this.parts.cloudPool(cloud, await this.apiKeyOf(cloud));
      this.cloudPools.push({ pool, provider, batchRunner });
      await pool.start(stopping);
      if (stopping.aborted) return;
      batchRunner?.start();
    }
    if (cloudProviders.length === 0) {
      this.log.log({
        msg: 'no cloud provider configured (CLOUD_PROVIDERS, or OPENAI_BASE_URL and OPENAI_API_KEY): every item runs locally',
      });
    }
    const services: Array<() => unknown> = [
      () => scheduleRunner.start(),
      () => this.parts.intakeExpander.start(),
      () => branchWriter.start(),
      () => this.parts.callbackDeliverer.start(),
      () => this.parts.resultRetention.start(),
      () => watchdog.start(),
    ];
    for (const start of services) {
      if (stopping.aborted) return;
      await start();
    }
  }

  /**
   * Everything stops taking jobs at once; running items get the drain part of SHUTDOWN_TIMEOUT_MS, and what still
   * runs near its end is handed back (queued again, its job back in the queue, no attempt spent: InferencePool.stop).
   * A job whose hand-back could not be written stays active in Redis (stalled-job recovery runs it again).
   * worker-process.ts exits at the deadline regardless.
   */
  async beforeApplicationShutdown(): Promise<void> {
    const { drainMs, exitMs } = shutdownPlan(this.config.shutdownTimeoutMs);
    const { watchdog, scheduleRunner, branchWriter } = this.parts;
    await Promise.all([
      watchdog.stop(drainMs),
      scheduleRunner.stop(drainMs),
      this.parts.intakeExpander.stop(drainMs),
      branchWriter.stop(drainMs),
      this.parts.callbackDeliverer.stop(drainMs),
      this.parts.resultRetention.stop(drainMs),
      ...this.localPools.map((p) => p.stop(drainMs)),
      ...this.cloudPools.map(({ pool }) => pool.stop(drainMs)),
      ...this.enginePools.map(({ pool }) => pool.stop(drainMs)),
      ...this.cloudPools.map(({ batchRunner }) => batchRunner?.stop()),
    ]);
    await Promise.all([...this.cloudPools, ...this.enginePools].map(({ provider }) => provider.close()));
    this.promptTokens.use(null);
    await this.disposeEngine(exitMs - drainMs);
  }

  /**
   * The engine last, within the closing part of the shutdown: a model that failed to load can keep node-llama-cpp's
   * dispose from ever finishing (disposeLlama), and a stop that waited on it sat out the whole deadline and exited 1.
   */
  private async disposeEngine(timeoutMs: number): Promise<void> {
    if (!this.llama) return;
    const { disposed, afterFailedLoad } = await disposeLlama(this.llama, timeoutMs);
    if (!disposed)
      this.log.warn({
        msg: 'engine not disposed in time; exiting without it (the process exit frees its memory)',
        timeoutMs,
        reason: afterFailedLoad
          ? 'a model failed to load on it, and node-llama-cpp then keeps a hold on the engine that nothing releases'
          : 'unknown',
      });
  }

  /** A key from a file is re-read whenever the file changes, so keys rotate without a restart. */
  private async apiKeyOf(cloud: CloudProviderConfig): Promise<string | ApiKeySource> {
    if (!cloud.apiKeyFile) return cloud.apiKey;
    return ApiKeyFile.open(cloud.apiKeyFile, {
      onReload: (path) => this.log.log({ msg: 'provider API key reloaded from its file', provider: cloud.name, path }),
      onReadError: (path, reason) =>
        this.log.warn({
          msg: 'provider API key file unreadable; keeping the previous key',
          provider: cloud.name,
          path,
          reason,
        }),
    });
  }

  /**
   * WORKER_MODELS picks which local models and engine pools this process serves (e.g. one worker per GPU and
   * model, or a worker for the engines only, which then loads no model itself); empty: all of them.
   */
  private served(): { models: LocalModelConfig[]; engines: EnginePoolConfig[] } {
    const { localModels, enginePools, engine } = this.config;
    if (engine.serve.length === 0) return { models: localModels, engines: enginePools };
    const names = [...localModels, ...enginePools].map((m) => m.name);
    const unknown = engine.serve.filter((name) => !names.includes(name));
    if (unknown.length > 0)
      throw new ConfigError(
        'WORKER_MODELS',
        `names from LOCAL_MODELS or ENGINE_POOLS (${names.join(', ')})`,
        unknown.join(','),
      );
    return {
      models: localModels.filter((m) => engine.serve.includes(m.name)),
      engines: enginePools.filter((p) => engine.serve.includes(p.name)),
    };
  }

  private async demoModel(): Promise<string> {
    const path = await ensureGeneratedModel('tiny');
    this.log.warn({
      msg: 'LOCAL_MODEL_PATH is not set: using the generated demo model, whose weights are random — its output is random text. Point LOCAL_MODEL_PATH at a real GGUF file for real answers.',
      path,
    });
    return path;
  }
}
