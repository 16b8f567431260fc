import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config/src/config.module.js';
import type { AppConfig } from '#libs/config/src/app-config.js';
import { BatchStore } from '#libs/batches/src/batch-store.js';
import { PoolRegistry } from '#libs/pools/src/pool-registry.js';
import { CloudProvider } from '#libs/providers/src/cloud/cloud-provider.js';
import { LocalModelProvider } from '#libs/providers/src/local/local-model-provider.js';
import { ensureGeneratedModel } from '#libs/gguf/src/ensure-model.js';
import { JobQueue, QueueName } from '#libs/queue/src/index.js';
import { InferencePool } from './inference-pool.js';
import { ItemProcessor } from './item-processor.js';
import { LocalFallback } from './local-fallback.js';

/**
 * Brings the worker's pools up in order — model loaded, then consuming — and down again: stop taking
 * jobs, let running ones finish within the shutdown budget, release the model.
 */
@Injectable()
export class WorkerLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('worker');
  private readonly pools: InferencePool[] = [];
  private local?: LocalModelProvider;
  private cloud?: CloudProvider;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(BatchStore) private readonly store: BatchStore,
    @Inject(PoolRegistry) private readonly registry: PoolRegistry,
    @Inject(JobQueue) private readonly jobs: JobQueue,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const { local, cloud, heartbeatMs } = this.config;
    const fallback = new LocalFallback(this.store, this.jobs, { provider: local.name, model: local.name });
    const processor = new ItemProcessor(this.store, this.registry, this.config.maxOutputTokens, fallback);
    const modelPath = local.modelPath ?? (await this.demoModel());
    this.local = await LocalModelProvider.load({
      modelPath,
      name: local.name,
      threads: local.threads,
      contextSize: local.contextSize,
      sequences: local.sequences,
      gpu: local.gpu === 'none' ? false : local.gpu,
    });
    this.pools.push(
      new InferencePool(
        { target: 'local', queue: QueueName.LocalInference, provider: this.local, model: local.name, device: this.local.device, price: local.price, concurrency: this.local.sequences, heartbeatMs },
        this.jobs,
        this.registry,
        processor,
      ),
    );
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
      this.pools.push(
        new InferencePool(
          { target: 'cloud', queue: QueueName.CloudInference, provider: this.cloud, model: cloud.model, device: 'api', price: cloud.price, concurrency: cloud.concurrency, heartbeatMs },
          this.jobs,
          this.registry,
          processor,
        ),
      );
    } else {
      this.log.log({ msg: 'no frontier provider configured (OPENAI_BASE_URL and OPENAI_API_KEY unset): every item runs locally' });
    }
    for (const pool of this.pools) await pool.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.pools.map((p) => p.stop(this.config.shutdownTimeoutMs)));
    await this.cloud?.close();
    await this.local?.close();
  }

  private async demoModel(): Promise<string> {
    const path = await ensureGeneratedModel('tiny');
    this.log.warn({ msg: 'LOCAL_MODEL_PATH is not set: using the generated demo model, whose weights are random — its output is random text. Point LOCAL_MODEL_PATH at a real GGUF file for real answers.', path });
    return path;
  }
}
