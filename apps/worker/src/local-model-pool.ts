import { hostname } from 'node:os';
import { Logger } from '@nestjs/common';
import type { Llama } from 'node-llama-cpp';
import type { LocalEngineConfig, LocalModelConfig } from '#libs/config';
import type { PoolHeartbeat, PoolGraceConfig, PoolRegistry } from '#libs/pools';
import { poolGraceMs } from '#libs/pools';
import { planSequences, type CapacityPlan, type DeviceMemory } from '#libs/pools';
import { SequenceGovernor } from '#libs/pools';
import { ProviderError } from '#libs/providers';
import { describeDevice, estimateModel, type DeviceInfo, type ModelEstimate } from '#libs/providers';
import { LocalModelProvider } from '#libs/providers';
import { metrics } from '#libs/metrics';
import { queueName, queueRefFor, type QueueLayer } from '#libs/queue';
import { InferencePool, poolId, type PoolDescription } from './inference-pool.js';
import type { ItemProcessor } from './item-processor.js';

export interface LocalModelPoolDeps {
  jobs: QueueLayer;
  registry: PoolRegistry;
  processor: ItemProcessor;
  heartbeatMs: number;
  /** POOL_GRACE_MS, POOL_LOAD_ESTIMATE_MS: what a restarting pool's word is kept for, and a first load expected to take. */
  grace: PoolGraceConfig;
  /** Reads device memory; tests substitute simulated VRAM states. */
  probe?: () => Promise<DeviceMemory>;
  /**
   * The process's stop: aborted while the model loads, the load is cut short and the pool is returned without
   * consuming (stop() then takes its 'loading' word back).
   */
  stopping?: AbortSignal;
}

/**
 * One local model on one device: sequences computed from memory (node-llama-cpp's estimates of the
 * weights and of the context per sequence against free memory × utilization), one context with that
 * many sequences, a queue consumer with the same concurrency, and a governor that shrinks and grows
 * the running sequences as memory comes and goes. A model that does not fit, or that cannot be read or loaded,
 * says so and does not consume; the worker and its other models run on.
 */
export class LocalModelPool {
  private readonly log = new Logger('local-pool');
  private governor?: SequenceGovernor;
  private monitor?: NodeJS.Timeout;
  private memory: DeviceMemory;

  readonly provider: LocalModelProvider | undefined;

  private constructor(
    readonly model: LocalModelConfig,
    private readonly device: DeviceInfo,
    private readonly opened: OpenedModel,
    private readonly inference: InferencePool,
  ) {
    this.memory = device.memory;
    this.provider = opened.kind === 'loaded' ? opened.provider : undefined;
  }

  static async open(
    model: LocalModelConfig & { modelPath: string },
    engine: LocalEngineConfig,
    llama: Llama,
    deps: LocalModelPoolDeps,
  ): Promise<LocalModelPool> {
    const log = new Logger('local-pool');
    const probe = deps.probe ?? (async () => (await describeDevice(llama, engine.threads)).memory);
    const device = { ...(await describeDevice(llama, engine.threads)), memory: await probe() };
    const queue = queueRefFor('local', model.name);
    // Announced before the load, so routing counts the model from its expected ready time (issue 19). What is
    // measured is from the process's start: after a restart, that is when the pool is back.
    const loadingSince = Date.now();
    const processStart = Math.round(performance.timeOrigin);
    const expectedLoadMs = (await deps.registry.loadMs(model.name)) ?? deps.grace.loadEstimateMs;
    const loading = (): PoolHeartbeat => ({
      id: poolId(queue),
      target: 'local',
      provider: model.name,
      model: model.name,
      queue: queueName(queue),
      host: hostname(),
      pid: process.pid,
      device: device.backend,
      deviceNames: device.names,
      memory: device.memory,
      modelBytes: null,
      status: 'loading',
      reason: 'loading the model',
      sequences: 0,
      activeSequences: 0,
      busy: 0,
      startedAt: loadingSince,
      at: Date.now(),
      expectedReadyAt: processStart + expectedLoadMs,
    });
    const announce = () => {
      const beat = loading();
      // On the worker's own /metrics too: its readiness probe (deploy/worker-ready.mjs) waits for every pool.
      metrics.poolReported(beat);
      return deps.registry.beat(beat).catch((e) => log.warn({ msg: 'heartbeat failed', error: String(e) }));
    };
    let announced = announce();
    const announcing = setInterval(() => void (announced = announce()), deps.heartbeatMs);
    let pool: LocalModelPool;
    try {
      pool = await LocalModelPool.load(model, engine, llama, deps, { device, probe, queue });
    } finally {
      clearInterval(announcing);
      // No 'loading' beat may land after the pool's first own one.
      await announced;
    }
    if (deps.stopping?.aborted) return pool;
    // Measured only when the load ended in a pool that consumes (a model that does not fit or load says so at once).
    if (pool.provider) await deps.registry.recordLoad(model.name, Date.now() - processStart);
    await pool.inference.start(deps.stopping);
    return pool;
  }

  private static async load(
    model: LocalModelConfig & { modelPath: string },
    engine: LocalEngineConfig,
    llama: Llama,
    deps: LocalModelPoolDeps,
    loading: { device: DeviceInfo; probe: () => Promise<DeviceMemory>; queue: ReturnType<typeof queueRefFor> },
  ): Promise<LocalModelPool> {
    const log = new Logger('local-pool');
    const { device, probe, queue } = loading;
    const opened = await openModel(model, engine, llama, device.memory, deps.stopping);
    // A load cut short by the process's stop is no fault of the model.
    if (opened.kind !== 'loaded' && !deps.stopping?.aborted)
      log.error({
        msg:
          opened.kind === 'failed'
            ? 'model could not be read or loaded; pool will not consume'
            : 'model does not fit; pool will not consume',
        model: model.name,
        reason: opened.reason,
        device: device.backend,
        freeBytes: device.memory.freeBytes,
      });
    const provider = opened.kind === 'loaded' ? opened.provider : undefined;
    if (opened.kind === 'loaded' && opened.past)
      log.warn({ msg: 'context past training', model: model.name, reason: opened.past });

    // eslint-disable-next-line prefer-const -- the callbacks above the pool's creation need its name
    let pool: LocalModelPool | undefined;
    const inference = new InferencePool(
      {
        target: 'local',
        queue,
        provider,
        price: model.price,
        heartbeatMs: deps.heartbeatMs,
        describe: () => pool!.describe(),
        onItemError: (err) => pool!.onItemError(err),
        restart: async () => {
          const loadMs = (await deps.registry.loadMs(model.name)) ?? deps.grace.loadEstimateMs;
          return { loadMs, graceMs: poolGraceMs(deps.grace, loadMs) };
        },
        preemption:
          engine.preemption.slackMs === null
            ? undefined
            : { slackMs: engine.preemption.slackMs, checkMs: engine.preemption.checkMs },
      },
      deps,
    );
    pool = new LocalModelPool(model, device, opened, inference);
    if (opened.kind === 'loaded') {
      pool.governor = new SequenceGovernor({
        probe: async () => (pool!.memory = await probe()),
        footprint: opened.estimate,
        utilization: engine.memoryUtilization,
        allocated: opened.provider.sequences,
        apply: (n) => pool!.resize(n),
      });
      pool.monitor = setInterval(
        () => void pool!.governor!.check().catch((e) => log.warn({ msg: 'memory check failed', error: String(e) })),
        engine.memoryCheckMs,
      );
    }
    return pool;
  }

  describe(): PoolDescription {
    const p = this.provider;
    return {
      model: this.model.name,
      device: this.device.backend,
      deviceNames: this.device.names,
      memory: { totalBytes: this.memory.totalBytes, freeBytes: this.memory.freeBytes },
      modelBytes: p?.modelBytes ?? this.opened.estimate?.modelBytes ?? null,
      ...(p && { chatWrapper: p.chatWrapperName }),
      status: STATUS_OF[this.opened.kind],
      reason: this.opened.reason,
      sequences: p?.sequences ?? 0,
      activeSequences: p?.activeSequences ?? 0,
    };
  }

  async stop(timeoutMs: number): Promise<void> {
    clearInterval(this.monitor);
    await this.inference.stop(timeoutMs);
    await this.provider?.close();
  }

  private resize(n: number): void {
    this.log.warn({
      msg: 'pool resized for device memory',
      model: this.model.name,
      sequences: n,
      allocated: this.provider?.sequences,
    });
    metrics.poolResized(this.model.name, this.provider?.activeSequences ?? n, n);
    this.provider?.setActiveSequences(n);
    this.inference.setConcurrency(n);
  }

  /** An out-of-memory item is retried (its error is retryable); the pool runs one sequence fewer meanwhile. */
  private onItemError(err: unknown): void {
    if (err instanceof ProviderError && err.code === 'out_of_memory') this.governor?.onOutOfMemory();
  }
}

/**
 * How opening a model ended: loaded; too big for the device's memory (by the estimate, or when even one sequence
 * ran out of memory); or failed whatever the memory — a file that is not GGUF or whose header is cut short (no
 * estimate), tensor data cut short, an architecture llama.cpp does not know. Loading again fails the same way.
 */
type OpenedModel =
  | { kind: 'loaded'; provider: LocalModelProvider; estimate: ModelEstimate; reason: string; past?: string }
  | { kind: 'does-not-fit'; estimate: ModelEstimate; reason: string }
  | { kind: 'failed'; estimate?: ModelEstimate; reason: string };

/** What a pool's heartbeat says of its model: 'failed' and 'does-not-fit' are down, and not coming back by themselves. */
const STATUS_OF: Record<OpenedModel['kind'], PoolHeartbeat['status']> = {
  loaded: 'consuming',
  'does-not-fit': 'does-not-fit',
  failed: 'failed',
};

/**
 * Sequences planned from memory (or as configured), then the model loaded with them. Every way it can fail ends
 * here as an OpenedModel, not a rejection: one model's bad file must not stop the worker's other models, nor
 * have the worker restart into the same failure, announcing 'loading' every time.
 */
async function openModel(
  model: LocalModelConfig & { modelPath: string },
  engine: LocalEngineConfig,
  llama: Llama,
  memory: DeviceMemory,
  stopping?: AbortSignal,
): Promise<OpenedModel> {
  let estimate: ModelEstimate;
  try {
    estimate = await estimateModel(llama, model.modelPath, model.contextSize);
  } catch (err) {
    return { kind: 'failed', reason: `could not read ${model.modelPath} as a GGUF model: ${messageOf(err)}` };
  }
  const plan: CapacityPlan =
    model.sequences === 'auto'
      ? planSequences({
          device: memory,
          footprint: estimate,
          utilization: engine.memoryUtilization,
          cap: model.maxSequences,
        })
      : {
          ...planSequences({ device: memory, footprint: estimate, utilization: 1, cap: model.sequences }),
          sequences: model.sequences,
          fits: true,
          reason: `${model.sequences} sequence(s), as configured`,
        };
  if (!plan.fits) return { kind: 'does-not-fit', estimate, reason: plan.reason };
  // The estimate can be off; if creating the context runs out of memory, halve and try again.
  for (let n = plan.sequences; n >= 1; n = Math.floor(n / 2)) {
    try {
      const provider = await LocalModelProvider.load({
        modelPath: model.modelPath,
        name: model.name,
        threads: engine.threads,
        contextSize: model.contextSize,
        sequences: n,
        llama,
        chatWrapper: model.chatWrapper,
        signal: stopping,
      });
      const sized =
        n === plan.sequences ? plan.reason : `${n} sequence(s): the context for ${plan.sequences} ran out of memory`;
      const past = pastTraining(model.contextSize, estimate.trainContextSize);
      return { kind: 'loaded', provider, estimate, reason: past ? `${sized}; ${past}` : sized, ...(past && { past }) };
    } catch (err) {
      if (stopping?.aborted)
        return { kind: 'failed', estimate, reason: 'the load was stopped: the worker is stopping' };
      // LocalModelProvider.load's message names the model, its file and what llama.cpp said.
      if (!(err instanceof ProviderError && err.code === 'out_of_memory'))
        return { kind: 'failed', estimate, reason: messageOf(err) };
      if (n === 1)
        return {
          kind: 'does-not-fit',
          estimate,
          reason: `does not fit: one sequence ran out of memory: ${messageOf(err)}`,
        };
    }
  }
  return { kind: 'does-not-fit', estimate, reason: plan.reason };
}

/**
 * Whether each sequence's context reaches past what the model was trained on (its GGUF `context_length`): llama.cpp
 * runs it (it only warns, as llama-server does; vLLM refuses such a max_model_len unless told), but what it writes
 * past that length degrades unless the model was made for it (RoPE scaling). Said in the pool's reason and logged.
 */
function pastTraining(contextSize: number, trainContextSize: number | undefined): string | undefined {
  if (!trainContextSize || contextSize <= trainContextSize) return undefined;
  return `LOCAL_CONTEXT_SIZE ${contextSize} is past the ${trainContextSize} tokens the model was trained on: answers past that length degrade`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
