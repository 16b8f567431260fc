import type { Llama } from 'node-llama-cpp';
import type { AuditRecorder } from '#libs/audit';
import { EgressRecorder } from '#libs/audit';
import type { BatchIntake } from '#libs/batches';
import type { BatchStore } from '#libs/batches';
import type { BranchOutputs } from '#libs/batches';
import type { BatchCallbacks } from '#libs/batches';
import type { CallbackSecrets, CallbackSender } from '#libs/callbacks';
import type { AppConfig, LocalModelConfig } from '#libs/config';
import type { CloudProviderConfig, EnginePoolConfig } from '#libs/config';
import type { CircuitRegistry } from '#libs/pools';
import type { PoolRegistry } from '#libs/pools';
import type { ProviderCapabilities } from '#libs/pools';
import type { ProviderDirectory } from '#libs/pools';
import type { ProviderBatchLedger } from '#libs/pools';
import type { TokenRateLimiter } from '#libs/pools';
import type { ApiKeySource } from '#libs/providers';
import { CloudProvider } from '#libs/providers';
import { OutputLimitField, ProviderBatchApi } from '#libs/providers';
import { configuredQueues, queueRefFor, type QueueLayer } from '#libs/queue';
import type { RouteTarget, RoutingPolicy } from '#libs/routing';
import type { ScheduleService } from '#libs/schedules';
import { BranchOutputWriter } from './branch-output-writer.js';
import { CallbackDeliverer } from './callback-deliverer.js';
import { CloudGate } from './cloud-gate.js';
import { EnginePool } from './engine-pool.js';
import { EscalationWatchdog } from './escalation-watchdog.js';
import { InferencePool } from './inference-pool.js';
import { ItemCalls } from './item-calls.js';
import { ItemEndings } from './item-endings.js';
import { ItemProcessor } from './item-processor.js';
import { ItemRerouter } from './item-rerouter.js';
import { LocalModelPool } from './local-model-pool.js';
import { ProviderBatchRunner } from './provider-batch-runner.js';
import { ProviderFeedback } from './provider-feedback.js';
import { ScheduleRunner } from './schedule-runner.js';
import { IntakeExpander } from './intake-expander.js';
import { ResultRetention } from './result-retention.js';

/** The shared services the worker is built from: the libs' Nest providers (Redis-backed stores, the queue layer, the routing policy). */
export interface WorkerServices {
  config: AppConfig;
  store: BatchStore;
  registry: PoolRegistry;
  jobs: QueueLayer;
  directory: ProviderDirectory;
  circuits: CircuitRegistry;
  tokens: TokenRateLimiter;
  policy: RoutingPolicy;
  capabilities: ProviderCapabilities;
  /** Where batch tiers keep their lines and open provider batches (issue 16 §3). */
  providerBatches: ProviderBatchLedger;
  schedules: ScheduleService;
  intake: BatchIntake;
  branchOutputs: BranchOutputs;
  audit: AuditRecorder;
  callbacks: { batches: BatchCallbacks; secrets: CallbackSecrets; sender: CallbackSender };
}

/** The worker's own objects, wired, not started: WorkerLifecycle starts and stops them in order. */
export interface WorkerParts {
  processor: ItemProcessor;
  watchdog: EscalationWatchdog;
  scheduleRunner: ScheduleRunner;
  /** Expands batches the API accepted as `validating` into items (INTAKE_DEFER_ITEMS). */
  intakeExpander: IntakeExpander;
  branchWriter: BranchOutputWriter;
  callbackDeliverer: CallbackDeliverer;
  resultRetention: ResultRetention;
  /**
   * A local model's pool, once the engine is open: loads the model, computes its sequences, then consumes — unless
   * `stopping` was aborted meanwhile (the load is cut short and the pool returned unstarted, to be stopped).
   */
  openLocalPool(
    model: LocalModelConfig & { modelPath: string },
    llama: Llama,
    stopping: AbortSignal,
  ): Promise<LocalModelPool>;
  /**
   * A cloud route's client and the pool that consumes its queue (not started); for a batch tier, the runner
   * that drives its provider batches (started and stopped with the pool).
   */
  cloudPool(
    cloud: CloudProviderConfig,
    apiKey: string | ApiKeySource,
  ): { pool: InferencePool; provider: CloudProvider; batchRunner?: ProviderBatchRunner };
  /**
   * An engine the operator runs (ENGINE_POOLS): a local pool over the openai SDK, its concurrency read from the
   * engine (not started).
   */
  enginePool(engine: EnginePoolConfig): { pool: EnginePool; provider: CloudProvider };
}

/** The Nest token WorkerModule provides the composed WorkerParts under. */
export const WORKER_PARTS = Symbol('WorkerParts');

/**
 * The one place the worker's objects are built and wired (its composition root). Plain TypeScript, so the
 * whole graph reads top to bottom here and a test can build it without Nest; WorkerModule calls it once
 * with the libs' services. What is built only at start-up (a model's pool, a cloud client with its key)
 * is built here too, by the factories it returns.
 */
export function composeWorker(s: WorkerServices): WorkerParts {
  const { config, store, registry, jobs } = s;
  const { maxOutputTokens, heartbeatMs } = config;
  // An engine pool is a local route with its own declared clearance; a local model is cleared for everything.
  const clearanceOf = (target: RouteTarget, provider: string) =>
    target === 'local'
      ? (config.enginePools.find((p) => p.name === provider)?.clearance ?? ('restricted' as const))
      : config.cloudProviders.find((p) => p.name === provider)?.clearance;
  const rerouter = new ItemRerouter({
    store,
    jobs,
    directory: s.directory,
    policy: s.policy,
    maxOutputTokens,
    audit: { recorder: s.audit, clearanceOf },
  });
  const feedback = new ProviderFeedback({
    pools: registry,
    circuits: s.circuits,
    capabilities: s.capabilities,
    maxOutputTokens,
  });
  const endings = new ItemEndings({ store, rerouter });
  const gate = new CloudGate({ store, circuits: s.circuits, tokens: s.tokens });
  const calls = new ItemCalls({ store, gate, feedback, endings });
  const processor = new ItemProcessor({ store, calls, endings, feedback, maxOutputTokens });
  const egress = new EgressRecorder(s.audit);
  // A provider's tiers serve one model: what one learns of its answer's cap field, the others use.
  const outputLimits = new Map<string, OutputLimitField>();
  const outputLimitOf = (provider: string) =>
    outputLimits.get(provider) ?? outputLimits.set(provider, new OutputLimitField()).get(provider)!;

  return {
    processor,
    watchdog: new EscalationWatchdog({
      jobs,
      store,
      directory: s.directory,
      rerouter,
      policy: s.policy,
      // Engine pools are local routes: their queues are swept exactly like a local model's.
      localModels: [...config.localModels, ...config.enginePools].map((m) => m.name),
      engines: config.enginePools.map((e) => e.name),
      intervalMs: config.escalationIntervalMs,
      maxOutputTokens,
      livePools: () => registry.live(),
    }),
    scheduleRunner: new ScheduleRunner(jobs, s.schedules, s.intake),
    intakeExpander: new IntakeExpander(jobs, s.intake),
    branchWriter: new BranchOutputWriter(jobs, store, s.branchOutputs, config.branchOutputAuthor),
    callbackDeliverer: new CallbackDeliverer({
      jobs,
      store,
      callbacks: s.callbacks.batches,
      secrets: s.callbacks.secrets,
      sender: s.callbacks.sender,
      audit: s.audit,
    }),
    resultRetention: new ResultRetention(jobs, store.retention, {
      ...config.retention,
      queues: configuredQueues(config),
    }),
    openLocalPool: (model, llama, stopping) =>
      LocalModelPool.open(model, config.engine, llama, {
        jobs,
        registry,
        processor,
        heartbeatMs,
        grace: config.pools,
        stopping,
      }),
    cloudPool: (cloud, apiKey) => {
      const provider = new CloudProvider({
        name: cloud.name,
        baseURL: cloud.baseURL,
        apiKey,
        model: cloud.model,
        clearance: cloud.clearance,
        timeoutMs: cloud.timeoutMs,
        maxRetries: cloud.maxRetries,
        probeTimeoutMs: config.circuit.probeTimeoutMs,
        audit: egress,
        contextTokens: cloud.contextTokens,
        ...(cloud.tier === 'flex' && { serviceTier: 'flex' as const }),
        outputLimit: outputLimitOf(cloud.provider),
        piiRules: config.piiRules,
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
      const batchRunner = cloud.batch
        ? new ProviderBatchRunner({
            route: cloud,
            api: new ProviderBatchApi({
              name: cloud.name,
              baseURL: cloud.baseURL,
              apiKey,
              model: cloud.model,
              clearance: cloud.clearance,
              timeoutMs: cloud.timeoutMs,
              audit: egress,
              outputLimit: outputLimitOf(cloud.provider),
              piiRules: config.piiRules,
            }),
            ledger: s.providerBatches,
            store,
            rerouter,
            elsewhere: (item) => endings.elsewhere(item),
            counter: {
              countTokens: (text) => provider.countTokens(text),
              promptTokens: (prompt) => provider.promptTokens(prompt.system, prompt.prompt),
            },
            maxOutputTokens,
          })
        : undefined;
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
        // A batch tier's jobs hand their item to the runner instead of calling the provider.
        { jobs, registry, processor: batchRunner ?? processor },
      );
      return { pool, provider, batchRunner };
    },
    enginePool: (engine) => {
      // The cloud providers' call path (the openai SDK, the egress audit), to an endpoint on premises.
      const provider = new CloudProvider({
        name: engine.name,
        baseURL: engine.baseURL,
        apiKey: engine.apiKey,
        model: engine.model,
        clearance: engine.clearance,
        timeoutMs: engine.timeoutMs,
        maxRetries: engine.maxRetries,
        probeTimeoutMs: config.circuit.probeTimeoutMs,
        audit: egress,
        // Only until the engine is read: the pool hands its consumer this client with the engine's own context.
        contextTokens: engine.contextTokens,
        piiRules: config.piiRules,
      });
      const pool = new EnginePool(engine, { jobs, registry, processor, heartbeatMs, provider });
      return { pool, provider };
    },
  };
}
