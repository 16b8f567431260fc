import { costOf, type Price } from '#libs/routing';
import { TokenCalibration } from '#libs/routing';
import {
  DEFAULT_PROBE_TIMEOUT_MS,
  workTokens,
  type ProviderView,
  type QueuedWork,
  type RoutableItem,
  type RouteTarget,
  type RoutingState,
} from '#libs/routing';
import type { Sensitivity } from '#libs/domain';
import { poolGraceMs } from '#libs/pools';
import {
  DEFAULT_ESCALATION_INTERVAL_MS,
  DEFAULT_PREEMPT_SLACK_MS,
  ewma,
  preemptible,
  preemptionVictim,
  workTokensPerSecond,
} from '#libs/routing';
import { cannotMove, effectiveDeadline, lateDeferrals } from '#libs/routing';
import { BATCH_ESCALATION_LEAD_MS, BATCH_DURATIONS_KEPT, batchWindowMs } from '#libs/routing';
import { EventQueue } from './event-queue.js';
import { Random } from './random.js';
import { BATCH_WINDOW_MS } from '#libs/config';
import {
  clearedFor,
  cloudRunMs,
  localRunMs,
  outageHit,
  REFUSAL_MS,
  type CloudSpec,
  type Downtime,
  type LocalPoolSpec,
  type ProviderBatchSpec,
  type Resources,
  type SimItem,
} from './resources.js';
import type { Router } from './routers.js';
import { MAX_OUTPUT_TOKENS } from './workload.js';

/** The machinery around the policy that the simulator reproduces, as apps/worker and libs/pools run it. */
export interface SystemConfig {
  name: string;
  /** The escalation sweep's period (a BullMQ Job Scheduler in production). */
  watchdogIntervalMs: number;
  /**
   * libs/pools CircuitRegistry: open after this many failures in a row, half-open after openMs, when
   * ItemProcessor probes it with a one-token request that must answer within probeTimeoutMs.
   */
  circuit: { failureThreshold: number; openMs: number; probeTimeoutMs: number };
  /** BullMQ attempts on the same provider (exponential backoff) before the item is rerouted elsewhere. */
  attempts: number;
  backoffMs: number;
  /** One throughput sample from a completion, as the worker records it (then an EWMA per provider). */
  throughputSample: (
    usage: { inputTokens: number; outputTokens: number },
    elapsedMs: number,
    latencyMs: number,
  ) => number | null;
  /** Estimates corrected per task kind from completed items (TokenCalibration), as routableItem applies them. */
  learnTokenRatios: boolean;
  /**
   * libs/pools' capacity that is coming (issue 19): a loading pool counts from its expected ready time (its
   * measured loads, POOL_LOAD_ESTIMATE_MS before any) for the grace (poolGraceMs: three loads, at least 30 s),
   * and the watchdog moves items off a model down past it. false: a pool not consuming is down (before issue 19).
   */
  countComingCapacity: boolean;
  loadEstimateMs: number;
  /**
   * libs/routing preemption (LOCAL_PREEMPT_SLACK_MS): running local work due at least this far off gives its
   * sequence to a waiting item due before it, and runs again from the start later; null: never.
   */
  preemptSlackMs: number | null;
  /** EscalationWatchdog's deferral of late local work nothing can move (libs/routing lateDeferrals); false: none. */
  deferLateWork: boolean;
}

/**
 * The system as apps/worker and libs/pools run it (JOB_ATTEMPTS, CIRCUIT_* defaults): ItemProcessor's
 * speed samples in the unit the policy estimates with (workTokensPerSecond), ProviderDirectory's local
 * view with its EDF queue, and EscalationWatchdog's sweep (libs/routing escalationSweep, the same code).
 */
export const PRODUCTION: SystemConfig = {
  name: 'production',
  watchdogIntervalMs: DEFAULT_ESCALATION_INTERVAL_MS,
  circuit: { failureThreshold: 5, openMs: 30_000, probeTimeoutMs: DEFAULT_PROBE_TIMEOUT_MS },
  attempts: 5,
  backoffMs: 1000,
  throughputSample: workTokensPerSecond,
  learnTokenRatios: true,
  countComingCapacity: true,
  loadEstimateMs: 60_000,
  preemptSlackMs: DEFAULT_PREEMPT_SLACK_MS,
  deferLateWork: true,
};

/**
 * How long a job refused by its circuit takes to be rerouted and picked up elsewhere. Two half-open
 * providers, each with its probe in flight, pass such a job back and forth until a probe answers
 * (ItemRerouter offers every provider whose circuit is not open).
 */
const REROUTE_HOP_MS = 100;

export interface ItemOutcome {
  /** Virtual ms when the item completed. */
  finishedAt: number;
  costUsd: number;
  /** Every provider a request for this item was sent to, in order (failed attempts included). */
  sentTo: string[];
  /** Sent at least once to a provider cleared below its sensitivity. */
  leaked: boolean;
  escalated: boolean;
}

export interface SimulationResult {
  outcomes: ItemOutcome[];
  costUsd: number;
  leaks: number;
  failedRequests: number;
  escalations: number;
  /** Local runs stopped for an item due sooner (each runs again later). */
  preemptions: number;
  /** Late local items the watchdog deferred behind work that could still be on time. */
  deferrals: number;
  /** Items completed by a cloud provider. */
  cloudItems: number;
}

interface Run {
  item: SimItem;
  routable: RoutableItem;
  /** The policy's work estimate (expected output, not the real one): what backlogs are counted in. */
  estWork: number;
  /** Failed attempts on the provider it is routed to now. */
  attempts: number;
  escalated: boolean;
  outcome: ItemOutcome;
}

interface Job {
  run: Run;
  seq: number;
  startedAt: number;
  /** Deferred by the watchdog (libs/routing lateDeferrals): it waits as if due DEFER_MS after its deadline. */
  deferred?: boolean;
}

/** When a local job runs as due: its BullMQ priority's deadline (InferencePool's runsAsDue). */
const runsAsDue = (job: Job) => effectiveDeadline(job.run.item.deadline, job.deferred === true);

/**
 * Drives a Router over a workload in virtual time, with the machinery production has around the
 * policy: per-provider queues and backlog counters, measured throughput, circuit breakers, retries and
 * reroutes, and the escalation watchdog. Requests really go to the provider named; one that is down
 * fails them after the request timeout.
 */
export function simulate(
  items: readonly SimItem[],
  resources: Resources,
  router: Router,
  config: SystemConfig = PRODUCTION,
): SimulationResult {
  return new Simulation(items, resources, router, config).run();
}

abstract class Provider {
  backlogTokens = 0;
  measuredTokensPerSec: number | null = null;
  running = 0;

  constructor(
    protected readonly sim: Simulation,
    readonly name: string,
    readonly target: RouteTarget,
    readonly clearance: Sensitivity,
    readonly price: Price,
  ) {}

  abstract enqueue(job: Job): void;

  /** What ProviderDirectory says of any cloud route besides its speed, latency and state. */
  protected cloudRoute(): Pick<ProviderView, 'target' | 'name' | 'model' | 'clearance' | 'price' | 'backlogTokens'> {
    return {
      target: 'cloud',
      name: this.name,
      model: this.name,
      clearance: this.clearance,
      price: this.price,
      backlogTokens: Math.max(0, this.backlogTokens),
    };
  }
  abstract dispatch(): void;
  abstract view(): ProviderView;

  /**
   * A request leaves for this provider: the one place sends, and leaks, are counted — independently of
   * the router, and before any adapter could refuse it (the cloud adapter's own clearance check is
   * deliberately not simulated, so that a routing leak shows here).
   */
  protected send(job: Job): void {
    const { outcome, item } = job.run;
    outcome.sentTo.push(this.name);
    if (!clearedFor(this.clearance, item.sensitivity)) outcome.leaked = true;
    job.startedAt = this.sim.events.now;
    this.running += 1;
  }

  protected completed(job: Job, elapsedMs: number, latencyMs: number): void {
    this.running -= 1;
    this.backlogTokens -= job.run.estWork;
    const usage = { inputTokens: job.run.item.inputTokens, outputTokens: job.run.item.outputTokens };
    const sample = this.sim.config.throughputSample(usage, elapsedMs, latencyMs);
    if (sample !== null) this.measuredTokensPerSec = ewma(this.measuredTokensPerSec, sample);
    this.sim.finish(job.run, costOf(usage, this.price));
    this.sim.learn(job.run.item);
    this.dispatch();
  }
}

/** The local pool: `sequences` items at once, the waiting ones in earliest-deadline-first order. */
class LocalPool extends Provider {
  /** Waiting jobs sorted by (deadline, seq) descending: the next to run is last. */
  readonly waiting: Job[] = [];
  readonly runningJobs = new Set<Job>();
  /** Measured model loads (an EWMA, as PoolRegistry.recordLoad); null before the first. */
  private measuredLoadMs: number | null = null;

  constructor(
    sim: Simulation,
    readonly spec: LocalPoolSpec,
  ) {
    super(sim, spec.name, 'local', 'restricted', spec.price);
  }

  enqueue(job: Job): void {
    this.waiting.splice(this.insertionIndex(job), 0, job);
  }

  remove(job: Job): void {
    const i = this.insertionIndex(job) - 1;
    if (this.waiting[i] !== job) throw new Error('job is not waiting on the local pool');
    this.waiting.splice(i, 1);
    this.backlogTokens -= job.run.estWork;
  }

  dispatch(): void {
    if (this.downtime(this.sim.events.now)) return;
    const now = this.sim.events.now;
    // Preemption (LOCAL_PREEMPT_SLACK_MS): the item due first takes a sequence from running work due much later.
    while (this.running >= this.spec.sequences && this.waiting.length > 0) {
      const next = this.waiting[this.waiting.length - 1];
      const victim = preemptionVictim(
        [...this.runningJobs].map((job) => ({ job, deadline: runsAsDue(job), startedAt: job.startedAt })),
        { deadline: runsAsDue(next) },
        now,
        this.sim.config.preemptSlackMs,
      );
      if (!victim) break;
      // Its run is lost; its job waits again with its deadline's priority and runs from the start later.
      this.runningJobs.delete(victim.job);
      this.running -= 1;
      victim.job.startedAt = NaN;
      this.enqueue(victim.job);
      this.sim.preemptions += 1;
      this.startJob(this.waiting.pop()!);
    }
    while (this.running < this.spec.sequences && this.waiting.length > 0) this.startJob(this.waiting.pop()!);
  }

  private startJob(job: Job): void {
    this.send(job);
    this.runningJobs.add(job);
    const runMs = localRunMs(job.run.item, this.spec);
    const startedAt = job.startedAt;
    this.sim.events.at(this.sim.events.now + runMs, () => {
      // Lost in a crash or preempted (and maybe running again since): this run never finishes.
      if (job.startedAt !== startedAt || !this.runningJobs.has(job)) return;
      this.runningJobs.delete(job);
      this.completed(job, runMs, 0);
    });
  }

  /** The downtime the pool is in at `now`, if any. */
  downtime(now: number): Downtime | undefined {
    return this.spec.downtimes?.find((d) => now >= d.fromMs && now < d.toMs);
  }

  /** A downtime begins: a crash loses what is running (stalled-job recovery runs it again); a clean stop drains it. */
  stop(d: Downtime): void {
    if (!d.crashLoop) return;
    for (const job of [...this.runningJobs]) {
      this.runningJobs.delete(job);
      this.running -= 1;
      job.startedAt = NaN;
      this.enqueue(job);
    }
  }

  /** The model is loaded again: its load is measured, and the pool consumes. */
  ready(d: Downtime): void {
    const loadMs = d.crashLoop ? d.crashLoop.cycleMs : d.toMs - d.fromMs;
    this.measuredLoadMs = ewma(this.measuredLoadMs, loadMs);
    this.dispatch();
  }

  /** What ProviderDirectory says of the pool while it loads: coming from its expected ready time, or down. */
  private availability(now: number): Pick<ProviderView, 'available' | 'coming'> {
    const d = this.downtime(now);
    if (!d) return { available: true };
    if (!this.sim.config.countComingCapacity) return { available: false };
    const loadMs = this.measuredLoadMs ?? this.sim.config.loadEstimateMs;
    // A crash loop announces a new load after each crash.
    const cycle = d.crashLoop?.cycleMs;
    const loadStart = cycle ? d.fromMs + Math.floor((now - d.fromMs) / cycle) * cycle : d.fromMs;
    const readyAt = loadStart + loadMs;
    // POOL_GRACE_MS unset: the grace is derived from the load time, as the directory derives it.
    const grace = poolGraceMs({ graceMs: null, loadEstimateMs: this.sim.config.loadEstimateMs }, loadMs);
    if (now > readyAt + grace) return { available: false };
    return { available: true, coming: { status: 'loading', readyAt } };
  }

  tokensPerSec(): number {
    return this.measuredTokensPerSec ?? this.spec.configuredTokensPerSec;
  }

  /** Estimated work still to do on a running job, at the measured speed (production knows when it started). */
  remainingWork(job: Job): number {
    return Math.max(0, job.run.estWork - ((this.sim.events.now - job.startedAt) / 1000) * this.tokensPerSec());
  }

  /** Running work first, then the waiting items in the order they will run. */
  queue(): QueuedWork[] {
    const now = this.sim.events.now;
    return [
      // Running work that may give its sequence away counts as waiting work due when it is (ProviderDirectory).
      ...[...this.runningJobs].map((j) =>
        preemptible(j.run.item.deadline, now, this.sim.config.preemptSlackMs)
          ? { deadline: j.run.item.deadline, workTokens: j.run.estWork, preemptible: true }
          : { deadline: j.run.item.deadline, workTokens: this.remainingWork(j), running: true },
      ),
      ...this.waiting
        .map((j) => ({ deadline: j.run.item.deadline, workTokens: j.run.estWork, item: j.run.routable }))
        .reverse(),
    ];
  }

  view(): ProviderView {
    return {
      target: 'local',
      name: this.name,
      model: this.name,
      clearance: 'restricted',
      price: this.price,
      tokensPerSec: this.tokensPerSec(),
      concurrency: this.spec.sequences,
      backlogTokens: Math.max(0, this.backlogTokens),
      latencyMs: 0,
      ...this.availability(this.sim.events.now),
      queue: this.queue(),
    };
  }

  private insertionIndex(job: Job): number {
    // First index whose job runs before `job` (descending order); binary search.
    let lo = 0;
    let hi = this.waiting.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const w = this.waiting[mid];
      const after = runsAsDue(w) > runsAsDue(job) || (runsAsDue(w) === runsAsDue(job) && w.seq > job.seq);
      if (after || w === job) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * A cloud provider: `concurrency` requests in flight, the rest waiting in FIFO order, behind a circuit
 * breaker with libs/pools CircuitRegistry's states: closed → open after `failureThreshold` failures in
 * a row; half-open once `openMs` has passed, when one probe request goes out; its success closes the
 * circuit, its failure opens it again. A job its circuit does not admit is rerouted at once.
 */
class CloudProvider extends Provider {
  private waiting: Job[] = [];
  private head = 0;
  private failures = 0;
  private openedAt: number | null = null;
  private probeAt: number | null = null;

  constructor(
    sim: Simulation,
    readonly spec: CloudSpec,
  ) {
    super(sim, spec.name, 'cloud', spec.clearance, spec.price);
  }

  enqueue(job: Job): void {
    this.waiting.push(job);
  }

  dispatch(): void {
    const now = this.sim.events.now;
    while (this.running < this.spec.concurrency && this.head < this.waiting.length) {
      const job = this.waiting[this.head++];
      const admitted = this.admit(now);
      if (admitted === 'refused') {
        // Rerouted by the worker that picked the job up: a hop of a job pick-up, not an instant.
        this.backlogTokens -= job.run.estWork;
        this.sim.events.at(now + REROUTE_HOP_MS, () => this.sim.reroute(job.run, this));
        continue;
      }
      if (admitted === 'probe') {
        this.probe(job, now);
        continue;
      }
      this.request(job);
    }
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * ItemProcessor's probe of a half-open circuit: a one-token request before the item's own. It answers
   * after the provider's latency, or fails at the probe timeout when the provider is still down: then the
   * circuit opens again and the job is rerouted, without an attempt counted against the item.
   */
  private probe(job: Job, now: number): void {
    this.running += 1;
    if (this.refusing(now)) return this.refused(job, true);
    const answerMs = this.spec.latencyMs * job.run.item.latencyFactor;
    const down = outageHit(this.spec, now, answerMs);
    const timeoutMs = Math.min(this.sim.config.circuit.probeTimeoutMs, this.sim.resources.requestTimeoutMs);
    if (down) {
      this.sim.events.at(
        Math.min(Math.max(now, down.fromMs) + this.sim.resources.requestTimeoutMs, now + timeoutMs),
        () => {
          this.running -= 1;
          this.backlogTokens -= job.run.estWork;
          this.sim.failedRequests += 1;
          this.recordFailure();
          this.sim.reroute(job.run, this);
          this.dispatch();
        },
      );
      return;
    }
    this.sim.events.at(now + answerMs, () => {
      this.running -= 1;
      this.succeeded();
      this.request(job);
      this.dispatch();
    });
  }

  /** The item's own request. */
  private request(job: Job): void {
    const now = this.sim.events.now;
    if (this.refusing(now)) {
      this.send(job);
      return this.refused(job, false);
    }
    this.send(job);
    const runMs = cloudRunMs(job.run.item, this.spec);
    const outage = outageHit(this.spec, now, runMs);
    if (outage) {
      this.sim.events.at(Math.max(now, outage.fromMs) + this.sim.resources.requestTimeoutMs, () => this.failed(job));
    } else {
      this.sim.events.at(now + runMs, () => {
        this.succeeded();
        this.completed(job, runMs, this.spec.latencyMs);
      });
    }
  }

  view(): ProviderView {
    return {
      ...this.cloudRoute(),
      tokensPerSec: this.measuredTokensPerSec ?? this.spec.configuredTokensPerSec,
      concurrency: this.spec.concurrency,
      latencyMs: this.spec.latencyMs,
      available: this.state(this.sim.events.now) !== 'open',
      circuit: this.state(this.sim.events.now),
    };
  }

  /** The route is out of capacity now (flex's "resource unavailable"). */
  private refusing(now: number): boolean {
    return this.spec.unavailable?.some((o) => now >= o.fromMs && now < o.toMs) ?? false;
  }

  /**
   * A 429 "resource unavailable" (ProviderFeedback.cloudCallFailed): not retried, the route's circuit opens at
   * once (CircuitRegistry.trip), and the item is rerouted (a probe's item without an attempt counted).
   */
  private refused(job: Job, probe: boolean): void {
    if (probe) this.running += 1;
    this.sim.events.at(this.sim.events.now + REFUSAL_MS, () => {
      this.running -= 1;
      this.backlogTokens -= job.run.estWork;
      this.sim.failedRequests += 1;
      this.openedAt = this.sim.events.now;
      this.probeAt = null;
      this.failures += 1;
      this.sim.reroute(job.run, this);
      this.dispatch();
    });
  }

  private state(now: number): 'closed' | 'open' | 'half-open' {
    if (this.openedAt === null) return 'closed';
    return now - this.openedAt >= this.sim.config.circuit.openMs ? 'half-open' : 'open';
  }

  private admit(now: number): 'closed' | 'probe' | 'refused' {
    const state = this.state(now);
    if (state === 'closed') return 'closed';
    if (state === 'half-open' && (this.probeAt === null || now - this.probeAt >= this.sim.config.circuit.openMs)) {
      this.probeAt = now;
      return 'probe';
    }
    return 'refused';
  }

  private failed(job: Job): void {
    this.running -= 1;
    this.backlogTokens -= job.run.estWork;
    this.sim.failedRequests += 1;
    this.recordFailure();
    this.sim.attemptFailed(job.run, this);
    this.dispatch();
  }

  private recordFailure(): void {
    const now = this.sim.events.now;
    const state = this.state(now);
    this.failures += 1;
    if (state === 'half-open' || (state === 'closed' && this.failures >= this.sim.config.circuit.failureThreshold)) {
      this.openedAt = now;
      this.probeAt = null;
    }
  }

  private succeeded(): void {
    this.failures = 0;
    this.openedAt = null;
    this.probeAt = null;
  }
}

/** libs/pools ProviderDirectory's batch tier view: generation inside the provider's window is its own business. */
const BATCH_TIER_TOKENS_PER_SEC = 1_000_000;
const BATCH_TIER_PARALLELISM = 16;

interface ProviderBatch {
  createdAt: number;
  /** When the provider really finishes it (drawn). */
  doneAt: number;
  /** Lines still wanted: the runner settles them when it sees the batch done. */
  lines: Set<Job>;
  /** Lines moved elsewhere near their deadline: the provider bills them if it finishes them. */
  abandoned: Job[];
}

/**
 * A provider's own Batch API as a route (apps/worker ProviderBatchRunner): lines gathered for `collectMs` go up
 * as one provider batch, polled every `pollMs`; each batch takes a drawn time. Routing counts on the slowest of
 * the route's last 20 batches (libs/routing batchWindowMs) plus the escalation lead. Beside Switchyard's policy a
 * line still open at its deadline less that lead is moved to a synchronous route, and when no line of a batch is
 * wanted any more the batch is cancelled: the provider bills what it had finished by then (pro rata here), and
 * lines it finishes after their item moved on. Lines the provider fails move elsewhere when the batch is read.
 */
class ProviderBatchRoute extends Provider {
  private collecting: Job[] = [];
  private flushScheduled = false;
  /** Durations of the route's finished provider batches, newest first (ProviderBatchLedger.durations). */
  private readonly recentMs: number[] = [];
  private readonly random: Random;
  private readonly batch: ProviderBatchSpec;

  constructor(
    sim: Simulation,
    readonly spec: CloudSpec,
    seed: number,
  ) {
    super(sim, spec.name, 'cloud', spec.clearance, spec.price);
    this.batch = spec.providerBatch!;
    this.random = new Random(seed).fork(spec.name);
  }

  enqueue(job: Job): void {
    this.collecting.push(job);
  }

  dispatch(): void {
    if (this.flushScheduled || this.collecting.length === 0) return;
    this.flushScheduled = true;
    this.sim.events.at(this.sim.events.now + this.batch.collectMs, () => this.flush());
  }

  /** The gathered lines go up as one provider batch: each line leaves here (egress, audited per line). */
  private flush(): void {
    this.flushScheduled = false;
    const now = this.sim.events.now;
    const factor = Math.min(
      this.batch.maxFactor,
      Math.max(this.batch.minFactor, this.random.logNormal(1, this.batch.durationSigma)),
    );
    const pb: ProviderBatch = {
      createdAt: now,
      doneAt: now + this.spec.latencyMs * factor,
      lines: new Set(this.collecting),
      abandoned: [],
    };
    this.collecting = [];
    const tick = Math.max(10, Math.min(this.batch.pollMs, this.batch.collectMs));
    for (const job of pb.lines) {
      this.send(job);
      // Switchyard's runner moves such lines; a plain Batch API client (the static routers) waits for the batch.
      if (!this.sim.escalating) continue;
      // The runner's round that first finds the line within the lead of its deadline.
      const leadAt = job.run.item.deadline - BATCH_ESCALATION_LEAD_MS;
      const at = leadAt <= now ? now : now + Math.ceil((leadAt - now) / tick) * tick;
      this.sim.events.at(at, () => this.escalate(pb, job));
    }
    // Seen done at the first poll after the provider finishes.
    this.sim.events.at(now + Math.ceil((pb.doneAt - now) / this.batch.pollMs) * this.batch.pollMs, () => this.read(pb));
  }

  private escalate(pb: ProviderBatch, job: Job): void {
    if (!pb.lines.delete(job)) return;
    pb.abandoned.push(job);
    this.let(job);
    this.sim.escalations += 1;
    job.run.outcome.escalated = true;
    this.sim.reroute(job.run, this);
    if (pb.lines.size > 0) return;
    // No line wanted: cancelled; the provider bills the part it had done.
    const now = this.sim.events.now;
    const done = Math.min(1, (now - pb.createdAt) / Math.max(1, pb.doneAt - pb.createdAt));
    for (const j of pb.abandoned) this.sim.charge(j.run, done * this.lineCost(j));
    pb.abandoned = [];
  }

  /** The batch is done: each wanted line settles (answered, or failed and moved); finished abandoned lines are billed. */
  private read(pb: ProviderBatch): void {
    if (pb.lines.size === 0) return; // cancelled
    this.recentMs.unshift(pb.doneAt - pb.createdAt);
    this.recentMs.length = Math.min(this.recentMs.length, BATCH_DURATIONS_KEPT);
    for (const job of pb.abandoned) this.sim.charge(job.run, this.lineCost(job));
    const lines = [...pb.lines];
    pb.lines.clear();
    for (const job of lines) {
      this.let(job);
      if (this.random.next() < this.batch.lineFailureRate) {
        this.sim.failedRequests += 1;
        this.sim.reroute(job.run, this);
        continue;
      }
      this.sim.finish(job.run, this.lineCost(job));
      this.sim.learn(job.run.item);
    }
  }

  /** A line leaves this route's count. */
  private let(job: Job): void {
    this.running -= 1;
    this.backlogTokens -= job.run.estWork;
  }

  private lineCost(job: Job): number {
    return costOf({ inputTokens: job.run.item.inputTokens, outputTokens: job.run.item.outputTokens }, this.price);
  }

  view(): ProviderView {
    return {
      ...this.cloudRoute(),
      tokensPerSec: BATCH_TIER_TOKENS_PER_SEC,
      concurrency: BATCH_TIER_PARALLELISM,
      latencyMs:
        batchWindowMs({ recentMs: this.recentMs, configuredMs: this.batch.expectedMs, windowMs: BATCH_WINDOW_MS }) +
        BATCH_ESCALATION_LEAD_MS,
      available: true,
    };
  }
}

class Simulation {
  readonly events = new EventQueue();
  readonly local: LocalPool;
  readonly clouds: Array<CloudProvider | ProviderBatchRoute>;
  private readonly byName = new Map<string, Provider>();
  private readonly runs: Run[];
  private seq = 0;
  private unfinished: number;
  private watchdogScheduled = false;
  private readonly calibration = new TokenCalibration();
  failedRequests = 0;
  escalations = 0;
  preemptions = 0;
  deferrals = 0;

  constructor(
    items: readonly SimItem[],
    readonly resources: Resources,
    private readonly router: Router,
    readonly config: SystemConfig,
  ) {
    this.local = new LocalPool(this, resources.local);
    // Provider batches' durations and failed lines are drawn from the workload's own seed: the same runs every time.
    const seed = items.length * 7919 + (items[0]?.id ?? 0) + Math.round(items[0]?.arrivalAt ?? 0);
    this.clouds = resources.clouds.map((spec) =>
      spec.providerBatch ? new ProviderBatchRoute(this, spec, seed) : new CloudProvider(this, spec),
    );
    for (const p of [this.local, ...this.clouds]) {
      if (this.byName.has(p.name)) throw new Error(`two providers are named ${p.name}`);
      this.byName.set(p.name, p);
    }
    this.runs = items.map((item) => {
      const routable = {
        sensitivity: item.sensitivity,
        deadline: item.deadline,
        inputTokens: item.inputTokens,
        expectedOutputTokens: item.expectedOutputTokens,
      };
      return {
        item,
        routable,
        estWork: workTokens(routable),
        attempts: 0,
        escalated: false,
        outcome: { finishedAt: NaN, costUsd: 0, sentTo: [], leaked: false, escalated: false },
      };
    });
    this.unfinished = items.length;
  }

  run(): SimulationResult {
    const batches = new Map<number, Run[]>();
    for (const run of this.runs) batches.set(run.item.batch, [...(batches.get(run.item.batch) ?? []), run]);
    for (const runs of batches.values()) this.events.at(runs[0].item.arrivalAt, () => this.arrive(runs));
    for (const d of this.resources.local.downtimes ?? []) {
      this.events.at(d.fromMs, () => this.local.stop(d));
      this.events.at(d.toMs, () => this.local.ready(d));
    }
    this.events.drain();
    if (this.unfinished !== 0) throw new Error(`${this.unfinished} item(s) never finished`);
    const outcomes = this.runs.map((r) => r.outcome);
    return {
      outcomes,
      costUsd: outcomes.reduce((s, o) => s + o.costUsd, 0),
      leaks: outcomes.filter((o) => o.leaked).length,
      failedRequests: this.failedRequests,
      preemptions: this.preemptions,
      deferrals: this.deferrals,
      escalations: this.escalations,
      cloudItems: this.runs.filter(
        (r) => this.byName.get(r.outcome.sentTo[r.outcome.sentTo.length - 1])?.target === 'cloud',
      ).length,
    };
  }

  /** As ItemProcessor records a completed item against its uncorrected estimate. */
  learn(item: SimItem): void {
    // The simulated workload's input estimate is exact, so only the output ratio moves here.
    if (this.config.learnTokenRatios)
      this.calibration.record(item.kind, item, {
        inputTokens: item.inputTokens,
        outputTokens: item.expectedOutputTokens,
      });
  }

  /** Production's escalation (the watchdog, provider batch lines moved near their deadline) runs beside this router. */
  get escalating(): boolean {
    return this.router.sweep !== undefined;
  }

  /** A charge that does not finish the item (a provider batch line billed after the item moved on). */
  charge(run: Run, costUsd: number): void {
    run.outcome.costUsd += costUsd;
  }

  finish(run: Run, costUsd: number): void {
    run.outcome.finishedAt = this.events.now;
    run.outcome.costUsd += costUsd;
    this.unfinished -= 1;
  }

  /** A failed request: BullMQ retries it on the same provider with backoff; after the last attempt it is rerouted. */
  attemptFailed(run: Run, from: CloudProvider): void {
    run.attempts += 1;
    if (run.attempts >= this.config.attempts) return this.reroute(run, from);
    this.events.at(this.events.now + this.config.backoffMs * 2 ** (run.attempts - 1), () =>
      this.assign(run, from.name),
    );
  }

  /**
   * apps/worker's ItemRerouter: the policy decides again without `from` and without cloud providers
   * whose circuit is open (local models stay: there an item waits rather than leaks).
   */
  reroute(run: Run, from: Provider): void {
    run.attempts = 0;
    const providers = [this.local, ...this.clouds].filter(
      (p) => p !== from && (p.target === 'local' || p.view().available !== false),
    );
    // The clouds left out stay in view as recovering, as ItemRerouter passes them: the item may park for one.
    const recovering = this.clouds.filter((c) => !providers.includes(c)).map((c) => c.view());
    const route = this.router.routeOne(run.routable, { ...this.state(providers), recovering });
    this.assign(run, route.provider, route.parkMs);
  }

  /** What ProviderDirectory hands the policy now. */
  private state(providers: readonly Provider[] = [this.local, ...this.clouds]): RoutingState {
    return { now: this.events.now, providers: providers.map((p) => p.view()) };
  }

  private arrive(runs: Run[]): void {
    // Estimated at intake with the corrections learned so far, within what one call may write (routableItem);
    // kept for the item's life.
    for (const run of runs) {
      run.routable = {
        ...run.routable,
        ...this.calibration.apply(run.item.kind, {
          inputTokens: run.item.inputTokens,
          expectedOutputTokens: run.item.expectedOutputTokens,
          maxOutputTokens: MAX_OUTPUT_TOKENS,
        }),
      };
      run.estWork = workTokens(run.routable);
    }
    const routes = this.router.routeBatch(
      runs.map((r) => r.routable),
      this.state(),
    );
    // Enqueued in the router's order, as BatchIntake enqueues a batch's jobs.
    const order = runs.map((_, i) => i).sort((a, b) => (routes[a].rank ?? a) - (routes[b].rank ?? b));
    for (const i of order) this.assign(runs[i], routes[i].provider, routes[i].parkMs);
  }

  private assign(run: Run, providerName: string, parkMs?: number): void {
    const provider = this.byName.get(providerName);
    if (!provider) throw new Error(`router named an unknown provider "${providerName}"`);
    if (parkMs) {
      // A delayed job on that provider's queue: it reaches the provider (and its circuit) only when it comes up.
      this.events.at(this.events.now + parkMs, () => this.assign(run, providerName));
      return;
    }
    provider.backlogTokens += run.estWork;
    provider.enqueue({ run, seq: this.seq++, startedAt: NaN });
    provider.dispatch();
    if (provider === this.local && this.router.sweep && !this.watchdogScheduled) this.scheduleWatchdog();
  }

  private scheduleWatchdog(): void {
    this.watchdogScheduled = true;
    this.events.at(this.events.now + this.config.watchdogIntervalMs, () => {
      this.watchdogScheduled = false;
      this.watchdog();
      if (this.local.waiting.length > 0) this.scheduleWatchdog();
    });
  }

  /**
   * The escalation watchdog (apps/worker/src/escalation-watchdog.ts): libs/routing's escalationSweep over the
   * waiting local items in the order they will run; one whose estimated finish is past its deadline moves, once,
   * to the cloud provider the router picks among those whose circuit is not open — when the router says so.
   */
  private watchdog(): void {
    const view = this.local.view();
    const clouds = this.state(this.clouds.filter((c) => c.view().available !== false));
    // No pool for longer than its grace: whatever a cloud provider can take moves now (issue 19).
    const down = this.config.countComingCapacity && view.available === false;
    // Moved once already (and back): it stays.
    const waiting = [...this.local.waiting]
      .reverse()
      .map((job) => ({ ref: job, routable: job.run.routable, workTokens: job.run.estWork, stays: job.run.escalated }));
    const moved = new Set<Job>();
    for (const { ref: job, decision } of this.router.sweep!(view, clouds, waiting, down)) {
      this.local.remove(job);
      job.run.escalated = true;
      job.run.outcome.escalated = true;
      this.escalations += 1;
      moved.add(job);
      this.assign(job.run, decision.provider);
    }
    if (down || !this.config.deferLateWork) return;
    // Late work nothing can move yields to work that can still be on time (EscalationWatchdog.defer).
    const entries = waiting
      .filter((e) => !moved.has(e.ref))
      .map((e) => ({
        ref: e.ref,
        deadline: e.routable.deadline,
        workTokens: e.workTokens,
        deferred: e.ref.deferred === true,
        stuck: cannotMove(e.routable.sensitivity, e.stays, clouds),
      }));
    for (const job of lateDeferrals(view, entries, this.events.now)) {
      this.local.remove(job);
      job.deferred = true;
      this.local.backlogTokens += job.run.estWork;
      this.local.enqueue(job);
      this.deferrals += 1;
    }
  }
}
