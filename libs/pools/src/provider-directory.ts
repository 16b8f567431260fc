import type { AppConfig, CloudProviderConfig, EnginePoolConfig, LocalModelConfig } from '#libs/config';
import { BATCH_WINDOW_MS } from '#libs/config';
import type { BatchStore } from '#libs/batches';
import type { WorkItem, BatchTask, RouteTarget } from '#libs/domain';
import { taskKind, uncorrectedEstimate } from '#libs/batches';
import { queueName, queueRefFor, type JobName, type QueueLayer } from '#libs/queue';
import type { LatencyFit } from '#libs/routing';
import { BATCH_ESCALATION_LEAD_MS, batchWindowMs } from '#libs/routing';
import type { TokenCalibration, TaskKind } from '#libs/routing';
import { preemptible, workTokensOn, type ProviderView, type QueuedWork, type RoutableItem } from '#libs/routing';
import type { RoutingState } from '#libs/routing';
import type { CircuitRegistry } from './circuit-registry.js';
import type { ProviderCapabilities } from './provider-capabilities.js';
import type { ProviderBatchLedger } from './provider-batch-ledger.js';
import type { PoolHeartbeat, PoolRegistry, SeenPool } from './pool-registry.js';
import { modelCapacity, poolGraceMs, type ModelCapacity } from './coming-capacity.js';

/** A provider batch's lines run in parallel at the provider: its window, not their size, says when they are done. */
const BATCH_TIER_TOKENS_PER_SEC = 1_000_000;

/** A provider batch's lines: the provider runs them many at once, inside its window. */
const BATCH_TIER_PARALLELISM = 16;

/**
 * Jobs read per local queue for its view, running and waiting each. Waiting work beyond them is due no
 * earlier than the last one read, so it delays only items due later still: it joins as one entry.
 */
const QUEUE_VIEW_LIMIT = 1000;

/** A queued item as its view needs it: its deadline and its uncorrected estimate (null: its batch is gone). */
interface QueuedItem {
  deadline: number;
  /** The item's answer cap rides along: the correction stops at it (TokenCalibration.apply). */
  estimate: { item: RoutableItem & { maxOutputTokens?: number }; kind: TaskKind } | null;
}

type LocalJobs = {
  running: Array<{ queued: QueuedItem; startedAt: number }>;
  waiting: QueuedItem[];
};

/** A local queue as its view reads it: its name, and the context one call holds there. */
interface LocalRoute {
  name: string;
  contextTokens: number;
  /** A model's pools preempt running work due this far off (LOCAL_PREEMPT_SLACK_MS); engines never do. */
  preemptSlackMs?: number | null;
}

/** What a local model's view is made of, read at once for every provider. */
interface LocalReads {
  live: PoolHeartbeat[];
  capacity: ModelCapacity;
  /** Measured, else the model's configured default. */
  tokensPerSec: number;
  jobs: LocalJobs;
  now: number;
  calibration: TokenCalibration;
  backlog: (target: RouteTarget, provider: string) => number;
}

/**
 * Assembles what the routing policy knows, from config (who exists, prices, clearance) and Redis
 * (measured speeds, live pools, backlog). The policy itself stays pure.
 */
export class ProviderDirectory {
  constructor(
    private readonly config: AppConfig,
    private readonly pools: PoolRegistry,
    private readonly store: BatchStore,
    private readonly circuits: CircuitRegistry,
    private readonly jobs: QueueLayer,
    private readonly capabilities?: ProviderCapabilities,
    private readonly providerBatches?: Pick<ProviderBatchLedger, 'durations'>,
  ) {}

  /**
   * Per local queue, what this process has read of each job listed there, by job id (issue 17 §2: reading every
   * job's hash on each call cost ~2,000 commands once the queue was deep). A job's payload is written once when
   * it is added, and an item's size and deadline never change, so an entry stays right for as long as its id is
   * listed; each call keeps only the ids it listed (running or waiting), so an entry lives no longer than its
   * job's stay on the queue, and a call reads the payloads of jobs added since the last one only.
   */
  private readonly queued = new Map<string, Map<string, QueuedItem>>();

  /** Before any pool of a configured model is seen, it is expected from this process's start for its grace. */
  private readonly startedAt = Date.now();

  /** Token-count corrections learned so far (routableItem applies them); read fresh on every call. */
  calibration(): Promise<TokenCalibration> {
    return this.pools.tokenCalibration();
  }

  /**
   * Every read is independent of the others, so all are sent at once: a routing call costs the round trips of
   * its longest chain (the live pools: prune, list, fetch), not one per read (issue 17: 17 serial reads before).
   */
  async routingState(now = Date.now()): Promise<RoutingState> {
    // Read on first use and shared; every use awaits at once, so a failed read is never left unobserved.
    const live = once(() => this.pools.live(now));
    const seen = once(() => this.pools.seen(now));
    const calibration = once(() => this.calibration());
    const backlog = once(() => this.store.routingBacklogs());
    const local = this.config.localModels.map(async (m) => {
      const [capacity, tokensPerSec, jobs, pools, corrections, backlogs] = await Promise.all([
        this.capacityOf(m.name, live(), seen(), now),
        this.pools.throughput('local', m.name),
        this.localJobs(m),
        live(),
        calibration(),
        backlog(),
      ]);
      return this.localView(m, {
        live: pools,
        capacity,
        tokensPerSec: tokensPerSec ?? m.tokensPerSecDefault,
        jobs,
        now,
        calibration: corrections,
        backlog: backlogs,
      });
    });
    const engines = (this.config.enginePools ?? []).map(async (p) => {
      const [tokensPerSec, jobs, pools, corrections, backlogs] = await Promise.all([
        this.pools.throughput('local', p.name),
        this.localJobs(p),
        live(),
        calibration(),
        backlog(),
      ]);
      return this.engineView(p, {
        live: pools,
        tokensPerSec: tokensPerSec ?? p.tokensPerSec,
        jobs,
        now,
        calibration: corrections,
        backlog: backlogs,
      });
    });
    const cloud = this.config.cloudProviders.map(async (p) => {
      const [backlogs, pools] = await Promise.all([backlog(), live()]);
      return this.cloudView(p, backlogs, pools);
    });
    return { now, providers: await Promise.all([...local, ...engines, ...cloud]) };
  }

  /** Every local model's capacity now: up, coming (loading, restarting, gone within its grace, starting), or down. */
  async capacity(now = Date.now()): Promise<ModelCapacity[]> {
    const live = once(() => this.pools.live(now));
    const seen = once(() => this.pools.seen(now));
    return Promise.all(this.config.localModels.map((m) => this.capacityOf(m.name, live(), seen(), now)));
  }

  private async capacityOf(
    model: string,
    livePools: Promise<PoolHeartbeat[]>,
    seenPools: Promise<SeenPool[]>,
    now: number,
  ): Promise<ModelCapacity> {
    const [measuredLoadMs, live, seen] = await Promise.all([this.pools.loadMs(model), livePools, seenPools]);
    const loadMs = measuredLoadMs ?? this.config.pools.loadEstimateMs;
    const mine = (p: PoolHeartbeat) => p.target === 'local' && p.provider === model;
    return modelCapacity({
      model,
      live: live.filter(mine),
      seen: seen.filter(mine),
      loadMs,
      graceMs: poolGraceMs(this.config.pools, loadMs),
      startedAt: this.startedAt,
      now,
    });
  }

  private localView(local: LocalModelConfig, read: LocalReads): ProviderView {
    const { live, capacity, tokensPerSec, jobs, now, calibration, backlog } = read;
    const pools = live.filter((p) => p.target === 'local' && p.provider === local.name && p.status === 'consuming');
    // Sequences running across every live pool of this model; coming, what its pools last ran; before any has
    // reported, the configured number.
    const sequences =
      pools.length > 0 ? pools.reduce((sum, p) => sum + p.activeSequences, 0) : (capacity.sequences ?? 0);
    const coming =
      capacity.state !== 'up' && capacity.state !== 'down' && capacity.readyAt !== null
        ? { status: capacity.state, readyAt: capacity.readyAt }
        : undefined;
    const backlogTokens = backlog('local', local.name);
    return {
      target: 'local',
      name: local.name,
      model: local.name,
      clearance: 'restricted',
      price: local.price,
      tokensPerSec,
      concurrency: sequences > 0 ? sequences : local.sequences === 'auto' ? 1 : local.sequences,
      backlogTokens,
      latencyMs: 0,
      // What its pools create each sequence with (LocalModelProvider.contextSize); this process may not load the model.
      contextTokens: local.contextSize,
      // No live pool of this model and none coming within the grace: down, as far as routing goes (items
      // routed here wait for one). Coming: counted from its expected ready time (issue 19).
      available: pools.length > 0 || coming !== undefined,
      ...(coming && { coming }),
      queue: this.localQueue(
        { name: local.name, contextTokens: local.contextSize, preemptSlackMs: this.config.engine.preemption.slackMs },
        jobs,
        {
          tokensPerSec,
          backlogTokens,
          now,
          calibration,
        },
      ),
    };
  }

  /**
   * An engine the operator runs (ENGINE_POOLS, issue 17 §4), seen exactly as a local pool is: its EDF queue, its
   * measured speed, and as many sequences as its consuming pools hold in flight from what the engine reported.
   * Available while a worker's pool of it consumes (the engine answers); no coming capacity: an engine is not
   * loaded by us, so there is no load to wait for.
   */
  private engineView(engine: EnginePoolConfig, read: Omit<LocalReads, 'capacity'>): ProviderView {
    const { live, tokensPerSec, jobs, now, calibration, backlog } = read;
    const pools = live.filter((p) => p.target === 'local' && p.provider === engine.name && p.status === 'consuming');
    // Several workers share one engine: its slots are the engine's, not each worker's; without slots (vLLM), each
    // worker's probed share adds up.
    const slots = Math.max(0, ...pools.map((p) => p.engine?.reading?.slots ?? 0));
    const sequences = slots > 0 ? slots : pools.reduce((sum, p) => sum + p.activeSequences, 0);
    const backlogTokens = backlog('local', engine.name);
    return {
      target: 'local',
      name: engine.name,
      model: engine.model,
      clearance: engine.clearance,
      price: engine.price,
      tokensPerSec,
      concurrency: Math.max(1, sequences),
      backlogTokens,
      latencyMs: 0,
      contextTokens: engineContextTokens(engine, live),
      available: pools.length > 0,
      queue: this.localQueue(engine, jobs, { tokensPerSec, backlogTokens, now, calibration }),
    };
  }

  /**
   * What the model's queue holds, running and waiting (up to QUEUE_VIEW_LIMIT each); none without its queue.
   * Reads the two id lists and the running jobs' start times, then the payloads of ids not seen before only.
   */
  private async localJobs(local: { name: string }): Promise<LocalJobs> {
    const ref = queueRefFor('local', local.name);
    if (!this.jobs.has(ref)) return { running: [], waiting: [] };
    const [running, waitingIds] = await Promise.all([
      this.jobs.running(ref, QUEUE_VIEW_LIMIT),
      this.jobs.waitingIds(ref, QUEUE_VIEW_LIMIT),
    ]);
    const seen = this.queued.get(queueName(ref)) ?? new Map<string, QueuedItem>();
    const listed = new Map<string, QueuedItem>();
    const unseen = [...running.map((j) => j.id), ...waitingIds].filter((id) => !seen.has(id));
    const payloads = unseen.length > 0 ? await this.jobs.payloads<JobName.RunItem>(ref, unseen) : [];
    const tasks = new Map<string, Promise<BatchTask | null>>();
    const read = new Map<string, QueuedItem>();
    await Promise.all(
      unseen.map(async (id, i) => {
        const data = payloads[i];
        // Gone between the listing and the read (finished, removed): not in the queue any more.
        if (data) read.set(id, { deadline: data.deadline, estimate: await this.estimate(data, tasks) });
      }),
    );
    const entry = (id: string) => {
      const queued = seen.get(id) ?? read.get(id);
      if (queued) listed.set(id, queued);
      return queued;
    };
    const jobs: LocalJobs = { running: [], waiting: [] };
    for (const { id, startedAt } of running) {
      const queued = entry(id);
      if (queued) jobs.running.push({ queued, startedAt });
    }
    for (const id of waitingIds) {
      const queued = entry(id);
      if (queued) jobs.waiting.push(queued);
    }
    // Only what is listed now is kept: a job that left the queue drops out at the next call.
    this.queued.set(queueName(ref), listed);
    return jobs;
  }

  /**
   * The local pool runs earliest-deadline-first (BullMQ priority from the deadline), so the policy is
   * given its queue: running items with what is left of them at the measured speed, then waiting items
   * with their estimates, so it can tell which on-time work a new item would push late. A running item a
   * model's pool would preempt for work due sooner (libs/routing preemptible) is waiting work, whole: it
   * runs again from the start if it gives way.
   */
  private localQueue(
    local: LocalRoute,
    { running, waiting }: LocalJobs,
    {
      tokensPerSec,
      backlogTokens,
      now,
      calibration,
    }: Omit<LocalReads, 'live' | 'capacity' | 'jobs' | 'backlog'> & {
      backlogTokens: number;
    },
  ): QueuedWork[] {
    const queue: QueuedWork[] = [];
    let listed = 0;
    for (const job of running) {
      const item = corrected(job.queued, calibration);
      if (!item) continue;
      const work = workTokensOn(item, local.contextTokens);
      listed += work;
      if (preemptible(item.deadline, now, local.preemptSlackMs ?? null)) {
        queue.push({ deadline: item.deadline, workTokens: work, preemptible: true });
        continue;
      }
      queue.push({
        deadline: item.deadline,
        workTokens: Math.max(0, work - ((now - job.startedAt) / 1000) * tokensPerSec),
        running: true,
      });
    }
    for (const job of waiting) {
      const item = corrected(job, calibration);
      if (!item) continue;
      const work = workTokensOn(item, local.contextTokens);
      listed += work;
      queue.push({ deadline: item.deadline, workTokens: work, item });
    }
    const last = waiting.at(-1);
    if (last && waiting.length === QUEUE_VIEW_LIMIT && backlogTokens > listed)
      queue.push({ deadline: last.deadline, workTokens: backlogTokens - listed });
    return queue;
  }

  /** An item's uncorrected estimate (calibration changes; the estimate is kept and corrected on each call). */
  private async estimate(
    item: WorkItem,
    tasks: Map<string, Promise<BatchTask | null>>,
  ): Promise<QueuedItem['estimate']> {
    if (!tasks.has(item.batchId)) tasks.set(item.batchId, this.store.task(item.batchId));
    const task = await tasks.get(item.batchId)!;
    return task ? { item: uncorrectedEstimate(item, task, this.config.maxOutputTokens), kind: taskKind(task) } : null;
  }

  /** A cloud provider's measured latency and speed (null until enough calls of different sizes came back). */
  latencyFit(provider: string): Promise<LatencyFit | null> {
    return this.pools.latencyFit(provider);
  }

  /**
   * Latency and speed from the provider's fit once there is one; before, the configured latency and the
   * moving average of speeds (taken with that latency out), else the configured speed.
   */
  private async cloudView(
    cloud: CloudProviderConfig,
    backlog: (target: RouteTarget, provider: string) => number,
    live: PoolHeartbeat[],
  ): Promise<ProviderView> {
    if (cloud.batch) return this.batchView(cloud, backlog);
    // All at once; the average speed is read even when the fit makes it unneeded: a read, not a round trip.
    const [fit, averageTokensPerSec, circuit, lacks] = await Promise.all([
      this.pools.latencyFit(cloud.name),
      this.pools.throughput('cloud', cloud.name),
      this.circuits.get(cloud.name),
      this.capabilities?.lacks(cloud.name),
    ]);
    return {
      target: 'cloud',
      name: cloud.name,
      model: cloud.model,
      clearance: cloud.clearance,
      price: cloud.price,
      tokensPerSec: fit?.tokensPerSec ?? averageTokensPerSec ?? cloud.tokensPerSec,
      concurrency: cloudConcurrency(cloud, live),
      backlogTokens: backlog('cloud', cloud.name),
      latencyMs: fit?.latencyMs ?? cloud.latencyMs,
      contextTokens: cloud.contextTokens,
      available: circuit.state !== 'open',
      circuit: circuit.state,
      lacks: (lacks ?? []).map((l) => l.capability),
    };
  }

  /**
   * A batch tier (issue 16 §3): its items finish when their provider batch does, so its latency is how long the
   * route's provider batches take (batchWindowMs: the slowest recent one, the configured expectation until some
   * were measured) plus the lead at which an unfinished line is escalated; the policy's cloud margin comes on top. Generation speed is the provider's own
   * business inside that window.
   */
  private async batchView(
    cloud: CloudProviderConfig,
    backlog: (target: RouteTarget, provider: string) => number,
  ): Promise<ProviderView> {
    const recentMs = (await this.providerBatches?.durations(cloud.name)) ?? [];
    const circuit = (await this.circuits.get(cloud.name)).state;
    return {
      target: 'cloud',
      name: cloud.name,
      model: cloud.model,
      clearance: cloud.clearance,
      price: cloud.price,
      tokensPerSec: BATCH_TIER_TOKENS_PER_SEC,
      concurrency: BATCH_TIER_PARALLELISM,
      backlogTokens: backlog('cloud', cloud.name),
      // What the provider batch takes, and the lead at which a line not done by then is moved elsewhere.
      latencyMs:
        batchWindowMs({ recentMs, configuredMs: cloud.batch!.expectedMs, windowMs: BATCH_WINDOW_MS }) +
        BATCH_ESCALATION_LEAD_MS,
      contextTokens: cloud.contextTokens,
      available: circuit !== 'open',
      circuit,
      lacks: ((await this.capabilities?.lacks(cloud.name)) ?? []).map((l) => l.capability),
    };
  }
}

/** A queued item's estimate with the calibration's correction now (the one routableItem applies), or null. */
function corrected({ estimate }: QueuedItem, calibration: TokenCalibration): RoutableItem | null {
  return estimate && { ...estimate.item, ...calibration.apply(estimate.kind, estimate.item) };
}

/** `read`, called once on first use; later uses share its promise. */
function once<T>(read: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | undefined;
  return () => (promise ??= read());
}

/**
 * How many of a cloud route's requests are in flight at once: what drains its backlog. The provider serves far
 * more; our own consumers are the bound, each worker's pool at its CLOUD_CONCURRENCY, so the live pools' sum. With
 * none consuming yet (a worker still starting), one worker's worth.
 */
function cloudConcurrency(cloud: Pick<CloudProviderConfig, 'name' | 'concurrency'>, live: PoolHeartbeat[]): number {
  const running = live
    .filter((p) => p.target === 'cloud' && p.provider === cloud.name && p.status === 'consuming')
    .reduce((sum, p) => sum + p.activeSequences, 0);
  return running > 0 ? running : cloud.concurrency;
}

/**
 * The context an engine's requests hold, as its workers hold them to it (EnginePool, from what the engine
 * reported): the least any live pool of it says, so an item routed there passes the fit check of whichever worker
 * takes it. A pool the engine has stopped answering says what it last read, which is nearer the truth than the
 * configured figure for the items that wait for the engine. Before any pool has read the engine, the configured
 * figure.
 */
function engineContextTokens(engine: EnginePoolConfig, live: PoolHeartbeat[]): number {
  const said = live
    .filter((p) => p.target === 'local' && p.provider === engine.name)
    .flatMap((p) => (typeof p.engine?.contextTokens === 'number' ? [p.engine.contextTokens] : []));
  return said.length > 0 ? Math.min(...said) : engine.contextTokens;
}
