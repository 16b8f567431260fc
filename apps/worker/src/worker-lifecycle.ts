import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Llama } from 'node-llama-cpp';
import { APP_CONFIG } from '#libs/config/src/config.module.js';
import type { AppConfig, LocalModelConfig } from '#libs/config/src/app-config.js';
import { ConfigError } from '#libs/config/src/config-error.js';
import { BatchStore } from '#libs/batches/src/batch-store.js';
import { PoolRegistry } from '#libs/pools/src/pool-registry.js';
import { CloudProvider } from '#libs/providers/src/cloud/cloud-provider.js';
import { openLlama } from '#libs/providers/src/local/local-model-provider.js';
import { ensureGeneratedModel } from '#libs/gguf/src/ensure-model.js';
import { JobQueue, queueRefFor } from '#libs/queue/src/index.js';
import { InferencePool } from './inference-pool.js';
import { ItemProcessor } from './item-processor.js';
import { LocalFallback } from './local-fallback.js';
import { LocalModelPool } from './local-model-pool.js';

/**
 * Brings the worker's pools up in order — each model loaded and its sequences computed, then
 * consuming — and down again: stop taking jobs, let running ones finish within the shutdown budget,
 * release the models and the engine.
 */
@Injectable()
export class WorkerLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('worker');
  private readonly localPools: LocalModelPool[] = [];
  private cloudPool?: InferencePool;
  private llama?: Llama;
  private cloud?: CloudProvider;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(BatchStore) private readonly store: BatchStore,
    @Inject(PoolRegistry) private readonly registry: PoolRegistry,
    @Inject(JobQueue) private readonly jobs: JobQueue,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const { localModels, engine, cloud, heartbeatMs } = this.config;
    const served = this.servedModels();
    const fallbackModel = localModels[0];
    const fallback = new LocalFallback(this.store, this.jobs, { provider: fallbackModel.name, model: fallbackModel.name });
    const processor = new ItemProcessor(this.store, this.registry, this.config.maxOutputTokens, fallback);

    if (served.length > 0) {
      this.llama = await openLlama(engine.gpu === 'none' ? false : engine.gpu, engine.threads);
      for (const model of served) {
        const modelPath = model.modelPath ?? (await this.demoModel());
        this.localPools.push(await LocalModelPool.open({ ...model, modelPath }, engine, this.llama, { jobs: this.jobs, registry: this.registry, processor, heartbeatMs }));
      }
    }
    if (cloud) {
      this.cloud = new CloudProvider({
        name: cloud.name,
        baseURL: cloud.baseURL,
        apiKey: cloud.apiKey,
        model: cloud.model,
        clearance: cloud.clearance,
        timeoutMs: cloud.timeoutMs,
        maxRetries: cloud.maxRetries,
      });
      const description = {
        model: cloud.model,
        device: 'api',
        deviceNames: [],
        memory: null,
        modelBytes: null,
        status: 'consuming' as const,
        reason: `cleared up to ${cloud.clearance}`,
        sequences: cloud.concurrency,
        activeSequences: cloud.concurrency,
      };
      this.cloudPool = new InferencePool(
        { target: 'cloud', queue: queueRefFor('cloud', cloud.name), provider: this.cloud, price: cloud.price, heartbeatMs, describe: () => description },
        this.jobs,
        this.registry,
        processor,
      );
      await this.cloudPool.start();
    } else {
      this.log.log({ msg: 'no frontier provider configured (OPENAI_BASE_URL and OPENAI_API_KEY unset): every item runs locally' });
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    const timeout = this.config.shutdownTimeoutMs;
    await Promise.all([...this.localPools.map((p) => p.stop(timeout)), this.cloudPool?.stop(timeout)]);
    await this.cloud?.close();
    await this.llama?.dispose();
  }

  /** WORKER_MODELS picks which local models this process serves (e.g. one worker per GPU and model). */
  private servedModels(): LocalModelConfig[] {
    const { localModels, engine } = this.config;
    if (engine.serve.length === 0) return localModels;
    const unknown = engine.serve.filter((name) => !localModels.some((m) => m.name === name));
    if (unknown.length > 0) throw new ConfigError('WORKER_MODELS', `names from LOCAL_MODELS (${localModels.map((m) => m.name).join(', ')})`, unknown.join(','));
    return localModels.filter((m) => engine.serve.includes(m.name));
  }

  private async demoModel(): Promise<string> {
    const path = await ensureGeneratedModel('tiny');
    this.log.warn({ msg: 'LOCAL_MODEL_PATH is not set: using the generated demo model, whose weights are random — its output is random text. Point LOCAL_MODEL_PATH at a real GGUF file for real answers.', path });
    return path;
  }
}
