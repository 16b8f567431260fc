import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Llama } from 'node-llama-cpp';
import { APP_CONFIG } from '#libs/config/src/config.module.js';
import type { AppConfig, LocalModelConfig } from '#libs/config/src/app-config.js';
import { ConfigError } from '#libs/config/src/config-error.js';
import { BatchStore } from '#libs/batches/src/batch-store.js';
import { PoolRegistry } from '#libs/pools/src/pool-registry.js';
import { CircuitRegistry } from '#libs/pools/src/circuit-registry.js';
import { ProviderDirectory } from '#libs/pools/src/provider-directory.js';
import { TokenRateLimiter } from '#libs/pools/src/token-rate-limiter.js';
import { ProviderCapabilities } from '#libs/pools/src/provider-capabilities.js';
import { RoutingPolicy } from '#libs/routing/src/routing-policy.js';
import { CloudProvider } from '#libs/providers/src/cloud/cloud-provider.js';
import { ApiKeyFile, type ApiKeySource } from '#libs/providers/src/cloud/api-key-source.js';
import { AuditTrail } from '#libs/audit/src/audit-trail.js';
import { EgressRecorder } from '#libs/audit/src/egress-recorder.js';
import type { CloudProviderConfig } from '#libs/config/src/cloud-providers.js';
import type { RouteTarget } from '#libs/routing/src/routing-policy.js';
import { openLlama } from '#libs/providers/src/local/local-model-provider.js';
import { ensureGeneratedModel } from '#libs/gguf/src/ensure-model.js';
import { JobQueue, queueRefFor } from '#libs/queue/src/index.js';
import { shutdownPlan } from '#libs/lifecycle/src/shutdown-deadline.js';
import { InferencePool } from './inference-pool.js';
import { ItemProcessor } from './item-processor.js';
import { EscalationWatchdog } from './escalation-watchdog.js';
import { ItemRerouter } from './item-rerouter.js';
import { LocalModelPool } from './local-model-pool.js';
import { ScheduleRunner } from './schedule-runner.js';
import { BatchIntake } from '#libs/batches/src/batch-intake.js';
import { PromptTokens } from '#libs/batches/src/prompt-tokens.js';
import { ScheduleService } from '#libs/schedules/src/schedule-service.js';
import { BranchOutputs } from '#libs/batches/src/branch-outputs.js';
import { BranchOutputWriter } from './branch-output-writer.js';

/**
 * Brings the worker's pools up in order — each model loaded and its sequences computed, then
 * consuming — and down again: stop taking jobs, let running ones finish within the shutdown budget,
 * release the models and the engine.
 */
@Injectable()
export class WorkerLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('worker');
  private readonly localPools: LocalModelPool[] = [];
  private readonly cloudPools: Array<{ pool: InferencePool; provider: CloudProvider }> = [];
  private llama?: Llama;
  private watchdog?: EscalationWatchdog;
  private scheduleRunner?: ScheduleRunner;
  private branchWriter?: BranchOutputWriter;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(BatchStore) private readonly store: BatchStore,
    @Inject(PoolRegistry) private readonly registry: PoolRegistry,
    @Inject(JobQueue) private readonly jobs: JobQueue,
    @Inject(ProviderDirectory) private readonly directory: ProviderDirectory,
    @Inject(CircuitRegistry) private readonly circuits: CircuitRegistry,
    @Inject(TokenRateLimiter) private readonly tokens: TokenRateLimiter,
    @Inject(RoutingPolicy) private readonly policy: RoutingPolicy,
    @Inject(ScheduleService) private readonly schedules: ScheduleService,
    @Inject(BatchIntake) private readonly intake: BatchIntake,
    @Inject(BranchOutputs) private readonly branchOutputs: BranchOutputs,
    @Inject(AuditTrail) private readonly audit: AuditTrail,
    @Inject(PromptTokens) private readonly promptTokens: PromptTokens,
    @Inject(ProviderCapabilities) private readonly capabilities: ProviderCapabilities,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const { localModels, engine, cloudProviders, heartbeatMs } = this.config;
    const served = this.servedModels();
    const clearanceOf = (target: RouteTarget, provider: string) =>
      target === 'local' ? ('restricted' as const) : cloudProviders.find((p) => p.name === provider)?.clearance;
    const rerouter = new ItemRerouter(this.store, this.jobs, this.directory, this.policy, this.config.maxOutputTokens, { recorder: this.audit, clearanceOf });
    const egress = new EgressRecorder(this.audit);
    const processor = new ItemProcessor({
      store: this.store,
      pools: this.registry,
      circuits: this.circuits,
      tokens: this.tokens,
      rerouter,
      maxOutputTokens: this.config.maxOutputTokens,
      capabilities: this.capabilities,
    });

    if (served.length > 0) {
      this.llama = await openLlama(engine.gpu === 'none' ? false : engine.gpu, engine.threads);
      for (const model of served) {
        const modelPath = model.modelPath ?? (await this.demoModel());
        this.localPools.push(await LocalModelPool.open({ ...model, modelPath }, engine, this.llama, { jobs: this.jobs, registry: this.registry, processor, heartbeatMs }));
      }
    }
    // Schedule firings enter through intake here: their prompts are counted by the models this worker serves.
    const byName = new Map(this.localPools.flatMap((p) => (p.provider ? [[p.model.name, p.provider] as const] : [])));
    this.promptTokens.use((system, prompt, model = localModels[0]?.name) => byName.get(model)?.promptTokens(system, prompt) ?? null);
    for (const cloud of cloudProviders) {
      const provider = new CloudProvider({
        name: cloud.name,
        baseURL: cloud.baseURL,
        apiKey: await this.apiKeyOf(cloud),
        model: cloud.model,
        clearance: cloud.clearance,
        timeoutMs: cloud.timeoutMs,
        maxRetries: cloud.maxRetries,
        probeTimeoutMs: this.config.circuit.probeTimeoutMs,
        audit: egress,
        contextTokens: cloud.contextTokens,
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
      const pool = new InferencePool(
        {
          target: 'cloud',
          queue: queueRefFor('cloud', cloud.name),
          provider,
          price: cloud.price,
          heartbeatMs,
          describe: () => description,
          requestsPerMinute: cloud.requestsPerMinute,
          tokensPerMinute: cloud.tokensPerMinute,
          latencyMs: cloud.latencyMs,
          tokensPerSec: cloud.tokensPerSec,
        },
        this.jobs,
        this.registry,
        processor,
      );
      this.cloudPools.push({ pool, provider });
      await pool.start();
    }
    if (cloudProviders.length === 0) {
      this.log.log({ msg: 'no cloud provider configured (CLOUD_PROVIDERS, or OPENAI_BASE_URL and OPENAI_API_KEY): every item runs locally' });
    }
    this.scheduleRunner = new ScheduleRunner(this.jobs, this.schedules, this.intake);
    this.scheduleRunner.start();
    this.branchWriter = new BranchOutputWriter(this.jobs, this.store, this.branchOutputs, this.config.branchOutputAuthor);
    await this.branchWriter.start();
    this.watchdog = new EscalationWatchdog(this.jobs, this.store, this.directory, rerouter, localModels.map((m) => m.name), this.config.escalationIntervalMs, this.config.maxOutputTokens, this.policy);
    await this.watchdog.start();
  }

  /**
   * Everything stops taking jobs at once; running ones get the drain part of SHUTDOWN_TIMEOUT_MS, then are
   * left active in Redis (stalled-job recovery runs them again). main.ts exits at the deadline regardless.
   */
  async beforeApplicationShutdown(): Promise<void> {
    const { drainMs } = shutdownPlan(this.config.shutdownTimeoutMs);
    await Promise.all([
      this.watchdog?.stop(drainMs),
      this.scheduleRunner?.stop(drainMs),
      this.branchWriter?.stop(drainMs),
      ...this.localPools.map((p) => p.stop(drainMs)),
      ...this.cloudPools.map(({ pool }) => pool.stop(drainMs)),
    ]);
    await Promise.all(this.cloudPools.map(({ provider }) => provider.close()));
    this.promptTokens.use(null);
    await this.llama?.dispose();
  }

  /** A key from a file is re-read whenever the file changes, so keys rotate without a restart. */
  private async apiKeyOf(cloud: CloudProviderConfig): Promise<string | ApiKeySource> {
    if (!cloud.apiKeyFile) return cloud.apiKey;
    return ApiKeyFile.open(cloud.apiKeyFile, {
      onReload: (path) => this.log.log({ msg: 'provider API key reloaded from its file', provider: cloud.name, path }),
      onReadError: (path, reason) => this.log.warn({ msg: 'provider API key file unreadable; keeping the previous key', provider: cloud.name, path, reason }),
    });
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
