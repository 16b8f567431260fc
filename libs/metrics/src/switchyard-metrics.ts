import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { metricsRegistry } from './metrics-registry.js';

/** Where an item ran: a route's target, its provider (a local model or a cloud provider's name), the model. */
export interface RouteLabels {
  target: 'local' | 'cloud';
  provider: string;
  model: string;
}

/** A provider as labels: target and name. */
export interface ProviderLabels {
  target: 'local' | 'cloud';
  provider: string;
}

/** One run of one item as a pool saw it (times in epoch ms). */
export interface ItemRun {
  /** How the run ended: an ItemOutcome kind, or `error` when the processor threw. */
  outcome: string;
  /** When the job was created (enqueued, or re-enqueued by a reroute). */
  enqueuedAt: number;
  startedAt: number;
  finishedAt: number;
  /** The item's deadline. */
  deadline: number;
}

/** A pool's heartbeat, as far as metrics read it. */
export interface PoolSample extends ProviderLabels {
  model: string;
  status: string;
  sequences: number;
  activeSequences: number;
  busy: number;
  device: string;
  memory: { totalBytes: number; freeBytes: number } | null;
}

/**
 * Why an item was escalated: its deadline (the watchdog), its answers, a context too small for it, or its provider no
 * longer configured (a retired queue).
 */
export type EscalationReason = 'deadline' | 'answers_rejected' | 'context_too_small' | 'provider_retired';

const SECONDS_FAST = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// Items run from a second (a short classification) to an hour (a long document map-reduced on a small GPU).
const SECONDS_ITEM = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
const SECONDS_WAIT = [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21_600];
const SECONDS_BATCH = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 21_600, 86_400];
// Negative: finished after the deadline. Deadlines are ISO-8601 durations from seconds (PT2S) to days, and an
// OpenAI batch's window may be a week or more: a day late and a week early still fall in a bucket of their own
// (histogram_quantile answers the lowest bucket's bound for anything below it, and +Inf reads as the highest).
const SECONDS_SLACK = [-86_400, -21_600, -3600, -600, -60, -10, 0, 10, 60, 300, 900, 3600, 21_600, 86_400, 604_800];

/** Terminal ends of an item's run: where its deadline is measured. */
const TERMINAL = new Set(['completed', 'failed']);

/**
 * Everything Switchyard measures, by Prometheus' conventions: units in names (`_seconds`, `_bytes`, `_usd`),
 * `_total` counters, and labels that stay few — targets, provider and model names, outcomes, statuses, queue
 * names, route patterns; never an item or batch id, a tenant or any text a caller sent. Each recorder is a
 * plain method named for the event, called where the event already happens.
 */
export class SwitchyardMetrics {
  // Items (worker)
  private readonly itemRuns: Counter<'target' | 'provider' | 'model' | 'outcome'>;
  private readonly itemDuration: Histogram<'target' | 'provider' | 'outcome'>;
  private readonly queueWait: Histogram<'target' | 'provider'>;
  private readonly itemSlack: Histogram<'target' | 'provider'>;
  private readonly itemMissed: Counter<'target' | 'provider'>;
  private readonly itemsRouted: Counter<'target' | 'provider' | 'model'>;
  private readonly escalations: Counter<'from_provider' | 'to_provider' | 'reason'>;
  private readonly reroutes: Counter<'from_target' | 'from_provider' | 'to_target' | 'to_provider'>;
  private readonly parks: Counter<'target' | 'provider'>;
  private readonly preemptions: Counter<'target' | 'provider'>;
  private readonly deferrals: Counter<'provider'>;
  // Batches (whichever process finishes them: the worker, or the API cancelling the last queued items)
  private readonly batchesFinished: Counter<'status'>;
  private readonly batchDuration: Histogram<'status'>;
  private readonly batchSlack: Histogram<'status'>;
  private readonly batchMissed: Counter<'status'>;
  // Providers (worker)
  private readonly inputTokens: Counter<'target' | 'provider'>;
  private readonly outputTokens: Counter<'target' | 'provider'>;
  private readonly costUsd: Counter<'target' | 'provider'>;
  private readonly callErrors: Counter<'target' | 'provider' | 'code'>;
  private readonly usageEstimates: Counter<'target' | 'provider'>;
  private readonly refusals: Counter<'target' | 'provider' | 'code'>;
  private readonly budgetRefusals: Counter<'provider'>;
  private readonly quotaWaits: Counter<'provider'>;
  private readonly quotaWaitSeconds: Counter<'provider'>;
  // Pools (worker: its own pools)
  private readonly poolSequencesMax: Gauge<'target' | 'provider' | 'model'>;
  private readonly poolSequencesActive: Gauge<'target' | 'provider' | 'model'>;
  private readonly poolSequencesBusy: Gauge<'target' | 'provider' | 'model'>;
  private readonly poolStatus: Gauge<'target' | 'provider' | 'status'>;
  private readonly memoryFree: Gauge<'provider' | 'device'>;
  private readonly memoryTotal: Gauge<'provider' | 'device'>;
  private readonly memoryShrinks: Counter<'provider'>;
  private readonly memoryGrows: Counter<'provider'>;
  private readonly poolStatuses = new Map<string, string>();
  // System state (API: read from Redis at each scrape)
  private readonly queueJobs: Gauge<'queue' | 'state'>;
  private readonly circuitState: Gauge<'provider' | 'state'>;
  private readonly measuredTokensPerSec: Gauge<'target' | 'provider'>;
  private readonly livePools: Gauge<'target' | 'provider' | 'status'>;
  // Audit (both)
  private readonly auditFailures: Counter<'kind'>;
  // HTTP (API)
  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly httpDuration: Histogram<'method' | 'route' | 'status'>;

  constructor(registry: Registry) {
    const registers = [registry];
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Counter<L>({ name, help, labelNames, registers });
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Gauge<L>({ name, help, labelNames, registers });
    const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]) =>
      new Histogram<L>({ name, help, labelNames, buckets, registers });

    this.itemRuns = counter(
      'switchyard_item_runs_total',
      'Runs of an item on a provider, by how they ended (completed, failed, rerouted, retrying, rate-limited, cancelled, skipped, handed-off, error).',
      ['target', 'provider', 'model', 'outcome'],
    );
    this.itemDuration = histogram(
      'switchyard_item_run_duration_seconds',
      'How long one run of an item took on its provider, every call of a long item included.',
      ['target', 'provider', 'outcome'],
      SECONDS_ITEM,
    );
    this.queueWait = histogram(
      'switchyard_item_queue_wait_seconds',
      'From the job being enqueued (or re-enqueued by a reroute or a park) to a pool starting it.',
      ['target', 'provider'],
      SECONDS_WAIT,
    );
    this.itemSlack = histogram(
      'switchyard_item_deadline_slack_seconds',
      'Deadline minus finish time of items that completed or failed (negative: late).',
      ['target', 'provider'],
      SECONDS_SLACK,
    );
    this.itemMissed = counter(
      'switchyard_item_deadline_missed_total',
      'Items that completed or failed after their deadline.',
      ['target', 'provider'],
    );
    this.itemsRouted = counter(
      'switchyard_items_routed_total',
      'Items routed at intake, by the route they were given.',
      ['target', 'provider', 'model'],
    );
    this.escalations = counter(
      'switchyard_item_escalations_total',
      'Items moved up to a cloud provider: to meet their deadline, after answers failed their check, or for a larger context.',
      ['from_provider', 'to_provider', 'reason'],
    );
    this.reroutes = counter(
      'switchyard_item_reroutes_total',
      'Items moved from one provider to another (escalations included).',
      ['from_target', 'from_provider', 'to_target', 'to_provider'],
    );
    this.parks = counter(
      'switchyard_item_parks_total',
      'Items parked (delayed) for a cheaper cloud provider that is down now, by the route they wait on.',
      ['target', 'provider'],
    );
    this.preemptions = counter(
      'switchyard_item_preemptions_total',
      'Local runs stopped for an item due sooner (each item queued again, to run from the start).',
      ['target', 'provider'],
    );
    this.deferrals = counter(
      'switchyard_item_deferrals_total',
      'Late local items nothing could move, deferred behind work that could still be on time (its priority later).',
      ['provider'],
    );
    this.batchesFinished = counter(
      'switchyard_batches_finished_total',
      'Batches whose last item reached a terminal status.',
      ['status'],
    );
    this.batchDuration = histogram(
      'switchyard_batch_duration_seconds',
      'From a batch being accepted to its last item finishing.',
      ['status'],
      SECONDS_BATCH,
    );
    this.batchSlack = histogram(
      'switchyard_batch_deadline_slack_seconds',
      'Deadline minus finish time of batches (negative: late).',
      ['status'],
      SECONDS_SLACK,
    );
    this.batchMissed = counter(
      'switchyard_batch_deadline_missed_total',
      'Batches that finished after their deadline.',
      ['status'],
    );
    this.inputTokens = counter(
      'switchyard_provider_input_tokens_total',
      'Prompt tokens of answered calls, as the provider counted them.',
      ['target', 'provider'],
    );
    this.outputTokens = counter('switchyard_provider_output_tokens_total', 'Tokens written by answered calls.', [
      'target',
      'provider',
    ]);
    this.costUsd = counter(
      'switchyard_provider_cost_usd_total',
      'Cost of answered calls at the configured prices, in US dollars.',
      ['target', 'provider'],
    );
    this.usageEstimates = counter(
      'switchyard_provider_usage_estimated_total',
      'Answered calls whose provider reported no usage (or part of it): their tokens are counted at their bound.',
      ['target', 'provider'],
    );
    this.callErrors = counter(
      'switchyard_provider_call_errors_total',
      'Calls to a provider that failed, by error code (server_error, timeout, rate_limited, …).',
      ['target', 'provider', 'code'],
    );
    this.refusals = counter(
      'switchyard_provider_refusals_total',
      'Calls a provider refused for the item itself (bad_request, context_exceeded, too_large, client_error): it is never sent there again.',
      ['target', 'provider', 'code'],
    );
    this.budgetRefusals = counter(
      'switchyard_budget_refusals_total',
      "Cloud calls refused because the batch's budget (maxCostUsd) could not cover their worst case.",
      ['provider'],
    );
    this.quotaWaits = counter(
      'switchyard_quota_waits_total',
      "Times a cloud call waited for its provider's tokens-per-minute quota.",
      ['provider'],
    );
    this.quotaWaitSeconds = counter(
      'switchyard_quota_wait_seconds_total',
      "Time cloud calls were told to wait for their provider's tokens-per-minute quota.",
      ['provider'],
    );
    const poolLabels = ['target', 'provider', 'model'] as const;
    this.poolSequencesMax = gauge(
      'switchyard_pool_sequences_max',
      "Sequences this worker's pool allocated (local: computed from memory; cloud: its concurrency).",
      poolLabels,
    );
    this.poolSequencesActive = gauge(
      'switchyard_pool_sequences_active',
      'Sequences the pool runs now (the memory governor shrinks and grows them).',
      poolLabels,
    );
    this.poolSequencesBusy = gauge('switchyard_pool_sequences_busy', 'Items the pool is running now.', poolLabels);
    this.poolStatus = gauge(
      'switchyard_pool_status',
      "This worker's pools by status (1 for the current one): consuming, does-not-fit, failed, ….",
      ['target', 'provider', 'status'],
    );
    this.memoryFree = gauge(
      'switchyard_device_memory_free_bytes',
      "Free memory of a local pool's device (VRAM on a GPU, RAM on the CPU), as last probed.",
      ['provider', 'device'],
    );
    this.memoryTotal = gauge('switchyard_device_memory_total_bytes', "Total memory of a local pool's device.", [
      'provider',
      'device',
    ]);
    this.memoryShrinks = counter(
      'switchyard_pool_memory_shrinks_total',
      'Times a local pool ran fewer sequences because device memory was short (or a call ran out of it).',
      ['provider'],
    );
    this.memoryGrows = counter(
      'switchyard_pool_memory_grows_total',
      'Times a local pool ran more sequences again as device memory came back.',
      ['provider'],
    );
    this.queueJobs = gauge(
      'switchyard_queue_jobs',
      'Jobs in each queue by state (waiting, prioritized, delayed, active, failed), read from BullMQ at scrape.',
      ['queue', 'state'],
    );
    this.circuitState = gauge(
      'switchyard_circuit_state',
      "Each cloud provider's circuit: 1 for its current state (closed, open, half-open), 0 for the others.",
      ['provider', 'state'],
    );
    this.measuredTokensPerSec = gauge(
      'switchyard_provider_measured_tokens_per_second',
      'Measured speed of a provider (work tokens per second, averaged over finished items), as routing uses it.',
      ['target', 'provider'],
    );
    this.livePools = gauge('switchyard_pools', 'Pools with a live heartbeat, across all workers, by status.', [
      'target',
      'provider',
      'status',
    ]);
    this.auditFailures = counter(
      'switchyard_audit_write_failures_total',
      'Audit entries that could not be written (an egress whose entry fails is not sent).',
      ['kind'],
    );
    this.httpRequests = counter(
      'switchyard_http_requests_total',
      'API requests by route pattern (never the path itself), method and status.',
      ['method', 'route', 'status'],
    );
    this.httpDuration = histogram(
      'switchyard_http_request_duration_seconds',
      'API request latency, from arrival to the last byte of the answer.',
      ['method', 'route', 'status'],
      SECONDS_FAST,
    );
  }

  /**
   * The counters the alert rules read with increase(), at 0 for a route this process serves, before anything
   * happens on it. increase() counts from a series' first sample, so a series born at its first value (a worker's
   * first deadline misses, all in one scrape interval) added nothing and SwitchyardDeadlinesMissed stayed silent.
   */
  routeServed(on: ProviderLabels): void {
    this.itemMissed.inc({ target: on.target, provider: on.provider }, 0);
    if (on.target === 'cloud') this.budgetRefusals.inc({ provider: on.provider }, 0);
  }

  /** Batches of these statuses may finish in this process: their deadline misses start at 0 (see routeServed). */
  batchStatusesExpected(statuses: readonly string[]): void {
    for (const status of statuses) this.batchMissed.inc({ status }, 0);
  }

  /** Audit entries of these kinds may be written here: their failures start at 0 (see routeServed). */
  auditKindsExpected(kinds: readonly string[]): void {
    for (const kind of kinds) this.auditFailures.inc({ kind }, 0);
  }

  /** A pool finished one run of an item: its outcome and duration, how long it queued, and its deadline slack. */
  itemRan(route: RouteLabels, run: ItemRun): void {
    const where = { target: route.target, provider: route.provider };
    this.itemRuns.inc({ ...where, model: route.model, outcome: run.outcome });
    this.itemDuration.observe({ ...where, outcome: run.outcome }, seconds(run.finishedAt - run.startedAt));
    this.queueWait.observe(where, Math.max(0, seconds(run.startedAt - run.enqueuedAt)));
    if (TERMINAL.has(run.outcome)) this.itemEnded(where, run);
  }

  /**
   * A provider batch finished an item (the batch tier): its job ended when its line was handed off (a run counted
   * `handed-off`), so the item's end is counted here, with its deadline slack, as a pool counts a run it ends.
   */
  itemSettled(
    route: RouteLabels,
    end: Pick<ItemRun, 'finishedAt' | 'deadline'> & { outcome: 'completed' | 'failed' },
  ): void {
    const where = { target: route.target, provider: route.provider };
    this.itemRuns.inc({ ...where, model: route.model, outcome: end.outcome });
    this.itemEnded(where, end);
  }

  private itemEnded(where: { target: string; provider: string }, end: Pick<ItemRun, 'finishedAt' | 'deadline'>): void {
    const slack = seconds(end.deadline - end.finishedAt);
    this.itemSlack.observe(where, slack);
    if (slack < 0) this.itemMissed.inc(where);
  }

  /** Intake routed an item (`parked`: it waits first for a provider that is down now). */
  itemRouted(route: RouteLabels, parked: boolean): void {
    // Picked, not spread: a route carries its reason and time too, which must never become labels.
    this.itemsRouted.inc({ target: route.target, provider: route.provider, model: route.model });
    if (parked) this.itemParked(route);
  }

  /** A reroute was applied: the item now waits on `to` (parked there first when `parked`). */
  itemRerouted(from: ProviderLabels, to: ProviderLabels, parked: boolean): void {
    this.reroutes.inc({
      from_target: from.target,
      from_provider: from.provider,
      to_target: to.target,
      to_provider: to.provider,
    });
    if (parked) this.itemParked(to);
  }

  private itemParked(on: ProviderLabels): void {
    this.parks.inc({ target: on.target, provider: on.provider });
  }

  /** A local pool stopped a running item for one due sooner (preemption). */
  itemPreempted(on: ProviderLabels): void {
    this.preemptions.inc({ target: on.target, provider: on.provider });
  }

  /** The escalation watchdog deferred a late local item that nothing could move (libs/routing lateDeferrals). */
  itemDeferred(provider: string): void {
    this.deferrals.inc({ provider });
  }

  itemEscalated(fromProvider: string, toProvider: string, reason: EscalationReason): void {
    this.escalations.inc({ from_provider: fromProvider, to_provider: toProvider, reason });
  }

  /** A batch's last item finished (times in epoch ms). */
  batchFinished(status: string, times: { createdAt: number; finishedAt: number; deadline: number }): void {
    this.batchesFinished.inc({ status });
    this.batchDuration.observe({ status }, Math.max(0, seconds(times.finishedAt - times.createdAt)));
    const slack = seconds(times.deadline - times.finishedAt);
    this.batchSlack.observe({ status }, slack);
    if (slack < 0) this.batchMissed.inc({ status });
  }

  /** A call answered: its tokens and what they cost. */
  callAnswered(on: ProviderLabels, usage: { inputTokens: number; outputTokens: number }, costUsd: number): void {
    const where = { target: on.target, provider: on.provider };
    this.inputTokens.inc(where, usage.inputTokens);
    this.outputTokens.inc(where, usage.outputTokens);
    this.costUsd.inc(where, costUsd);
  }

  /** An answered call whose usage the provider did not report in full: its tokens were estimated at their bound. */
  usageEstimated(on: ProviderLabels): void {
    this.usageEstimates.inc({ target: on.target, provider: on.provider });
  }

  /** A call failed with `code` (a ProviderError's, else `unknown`); `refused`: the provider refused the item itself. */
  callFailed(on: ProviderLabels, code: string, refused: boolean): void {
    const labels = { target: on.target, provider: on.provider, code };
    this.callErrors.inc(labels);
    if (refused) this.refusals.inc(labels);
  }

  budgetRefused(provider: string): void {
    this.budgetRefusals.inc({ provider });
  }

  quotaWaited(provider: string, waitMs: number): void {
    this.quotaWaits.inc({ provider });
    this.quotaWaitSeconds.inc({ provider }, seconds(waitMs));
  }

  /** A pool's heartbeat: its sequences, load, status and device memory. */
  poolReported(pool: PoolSample): void {
    const labels = { target: pool.target, provider: pool.provider, model: pool.model };
    this.poolSequencesMax.set(labels, pool.sequences);
    this.poolSequencesActive.set(labels, pool.activeSequences);
    this.poolSequencesBusy.set(labels, pool.busy);
    const key = `${pool.target}\u0000${pool.provider}`;
    const before = this.poolStatuses.get(key);
    if (before !== undefined && before !== pool.status)
      this.poolStatus.remove({ target: pool.target, provider: pool.provider, status: before });
    this.poolStatuses.set(key, pool.status);
    this.poolStatus.set({ target: pool.target, provider: pool.provider, status: pool.status }, 1);
    if (pool.memory) {
      this.memoryFree.set({ provider: pool.provider, device: pool.device }, pool.memory.freeBytes);
      this.memoryTotal.set({ provider: pool.provider, device: pool.device }, pool.memory.totalBytes);
    }
  }

  /** A pool stopped: its gauges go, rather than report its last load forever. */
  poolStopped(pool: Pick<PoolSample, 'target' | 'provider' | 'model' | 'device'>): void {
    const labels = { target: pool.target, provider: pool.provider, model: pool.model };
    this.poolSequencesMax.remove(labels);
    this.poolSequencesActive.remove(labels);
    this.poolSequencesBusy.remove(labels);
    const key = `${pool.target}\u0000${pool.provider}`;
    const status = this.poolStatuses.get(key);
    if (status !== undefined) this.poolStatus.remove({ target: pool.target, provider: pool.provider, status });
    this.poolStatuses.delete(key);
    this.memoryFree.remove({ provider: pool.provider, device: pool.device });
    this.memoryTotal.remove({ provider: pool.provider, device: pool.device });
  }

  /** The memory governor resized a local pool from `from` to `to` running sequences. */
  poolResized(provider: string, from: number, to: number): void {
    if (to < from) this.memoryShrinks.inc({ provider });
    else if (to > from) this.memoryGrows.inc({ provider });
  }

  /** The system as Redis holds it, read at a scrape: every series is replaced, so gone queues and pools drop out. */
  systemState(state: SystemState): void {
    this.queueJobs.reset();
    for (const q of state.queues)
      for (const [s, n] of Object.entries(q.jobs)) this.queueJobs.set({ queue: q.queue, state: s }, n);
    this.circuitState.reset();
    for (const c of state.circuits)
      for (const s of CIRCUIT_STATES) this.circuitState.set({ provider: c.provider, state: s }, c.state === s ? 1 : 0);
    this.measuredTokensPerSec.reset();
    for (const t of state.throughput)
      this.measuredTokensPerSec.set({ target: t.target, provider: t.provider }, t.tokensPerSec);
    this.livePools.reset();
    for (const p of state.pools) this.livePools.inc({ target: p.target, provider: p.provider, status: p.status });
  }

  /** What Redis holds could not be read at this scrape: none of it is reported, rather than what was read before. */
  systemStateUnknown(): void {
    this.queueJobs.reset();
    this.circuitState.reset();
    this.measuredTokensPerSec.reset();
    this.livePools.reset();
  }

  /** Audit entries of `kind` could not be written. */
  auditWriteFailed(kind: string, entries = 1): void {
    this.auditFailures.inc({ kind }, entries);
  }

  /** An API request was answered. `route`: the matched pattern (`/v1/batches/:id`), or `unmatched`. */
  httpRequest(method: string, route: string, status: number, durationSeconds: number): void {
    const labels = { method, route, status: String(status) };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, durationSeconds);
  }
}

export const CIRCUIT_STATES = ['closed', 'open', 'half-open'] as const;

/** What the API reads from Redis at each scrape: queues, circuits, measured speeds, live pools. */
export interface SystemState {
  queues: Array<{ queue: string; jobs: Record<string, number> }>;
  circuits: Array<{ provider: string; state: (typeof CIRCUIT_STATES)[number] }>;
  throughput: Array<ProviderLabels & { tokensPerSec: number }>;
  pools: Array<ProviderLabels & { status: string }>;
}

function seconds(ms: number): number {
  return ms / 1000;
}

/** The process's recorders, on the process's registry. */
export const metrics = new SwitchyardMetrics(metricsRegistry);
