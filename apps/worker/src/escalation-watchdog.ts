import { Logger } from '@nestjs/common';
import type { BatchStore } from '#libs/batches';
import type { WorkItem, BatchTask, RouteTarget } from '#libs/domain';
import { routableItem } from '#libs/batches';
import type { TokenCalibration } from '#libs/routing';
import type { ProviderDirectory } from '#libs/pools';
import {
  JobName,
  MAINTENANCE_QUEUE,
  deadlinePriority,
  isDeferredPriority,
  QueueKind,
  queueName,
  queueRefFor,
  type ConsumerHandle,
  type QueueLayer,
  type QueueRef,
} from '#libs/queue';
import {
  DEFER_MS,
  cannotMove,
  effectiveDeadline,
  escalationSweep,
  lateDeferrals,
  workTokensOn,
  type ProviderView,
  type RoutableItem,
  type RoutingPolicy,
  type RoutingState,
  type SweepEntry,
} from '#libs/routing';
import { metrics } from '#libs/metrics';
import type { ItemRerouter } from './item-rerouter.js';
import { itemLogFields } from './item-log-fields.js';

export interface EscalationWatchdogOptions {
  jobs: QueueLayer;
  store: Pick<BatchStore, 'task' | 'markDeferred' | 'item'>;
  directory: Pick<ProviderDirectory, 'routingState' | 'calibration'>;
  rerouter: Pick<ItemRerouter, 'apply' | 'propose' | 'enqueueCurrent'>;
  policy: Pick<RoutingPolicy, 'escalation'>;
  /** The local models whose queues it sweeps (engine pools' names among them). */
  localModels: string[];
  /** Which of them are engines the operator runs (ENGINE_POOLS): down means the engine stopped answering. */
  engines?: readonly string[];
  /** ESCALATION_INTERVAL_MS: how often the sweep runs, once across all workers. */
  intervalMs: number;
  maxOutputTokens: number;
  /**
   * The providers some live pool serves now (PoolRegistry.live): a retired queue one of them still consumes (a worker
   * of the old config, mid rolling deploy) is left to it. Absent: retired queues are not swept.
   */
  livePools?: () => Promise<ReadonlyArray<{ target: RouteTarget; provider: string }>>;
  /** How often a sweep looks for retired queues (a SCAN of the keyspace): RETIRED_SCAN_MS unless told. */
  retiredScanMs?: number;
}

/**
 * A sweep looks for queues of providers no longer configured at most this often: the look is a SCAN over every key,
 * and a rename of a model in LOCAL_MODELS is rare; items due sooner than this after a rename may miss their deadline.
 */
export const RETIRED_SCAN_MS = 60_000;

/** Waiting items looked at per local queue and sweep; the rest wait for the next sweep. */
const SWEEP_LIMIT = 1000;

/**
 * Re-checks waiting local items against their deadlines: libs/routing's escalationSweep walks each local queue
 * in the order it will run (earliest deadline first) on the pool's EDF schedule; one that will now miss its
 * deadline moves — once, atomically, from 'queued' — to a cleared provider that can still meet it. What will be
 * late and cannot move (no cloud provider cleared for it has a closed circuit, or it is pinned) is deferred,
 * longest first, behind the items that can still be on time (libs/routing lateDeferrals). The sweep is a BullMQ
 * Job Scheduler, so every interval runs once across all workers.
 */
export class EscalationWatchdog {
  private readonly log = new Logger('escalation');
  private consumer?: ConsumerHandle;
  /** When the next sweep looks for retired queues (epoch ms): the first sweep does. */
  private retiredScanAt = 0;

  constructor(private readonly opts: EscalationWatchdogOptions) {}

  async start(): Promise<void> {
    const { jobs, intervalMs } = this.opts;
    await jobs.schedule(MAINTENANCE_QUEUE, 'escalation-sweep', { every: intervalMs }, JobName.EscalationSweep, {});
    this.consumer = jobs.consume<JobName.EscalationSweep>(
      MAINTENANCE_QUEUE,
      async () => {
        try {
          return { moved: await this.sweep() };
        } catch (err) {
          this.log.error({ msg: 'escalation sweep failed', error: err instanceof Error ? err.message : String(err) });
          throw err;
        }
      },
      { concurrency: 1 },
    );
  }

  async stop(timeoutMs = 5000): Promise<void> {
    await this.consumer?.close(timeoutMs);
  }

  /** One pass over every local queue; returns how many items it moved. */
  async sweep(now = Date.now()): Promise<number> {
    const { jobs, directory, rerouter, policy, localModels } = this.opts;
    const state = await directory.routingState(now);
    const tasks = new Map<string, BatchTask | null>();
    const calibration = await directory.calibration();
    const clouds = { now, providers: state.providers.filter((p) => p.target === 'cloud' && p.available !== false) };
    let moved = 0;
    if (this.opts.livePools && now >= this.retiredScanAt) {
      this.retiredScanAt = now + (this.opts.retiredScanMs ?? RETIRED_SCAN_MS);
      moved += await this.sweepRetired(now);
    }
    for (const model of localModels) {
      const view = state.providers.find((p) => p.target === 'local' && p.name === model);
      if (!view) continue;
      const waiting = await jobs.waiting<JobName.RunItem>(queueRefFor('local', model), SWEEP_LIMIT);
      const entries: SweepEntry<(typeof waiting)[number]>[] = [];
      for (const job of waiting) {
        const routable = await this.routable(job.data, tasks, calibration);
        const workTokens = workTokensOn(routable, view.contextTokens);
        // A pinned item runs on its model only: late there, it stays (its route said at-risk if known at intake).
        entries.push({ ref: job, routable, workTokens, stays: job.data.model !== undefined });
      }
      // No pool of the model, and none coming within its grace (issue 19): every item a cloud provider can take
      // moves now; restricted and pinned items wait for a pool, as before.
      const down = view.available === false;
      // A move the rerouter cannot make (a worker took the item meanwhile) is answered false: that item keeps its
      // place in the pool's schedule for the ones after it, as it does in fact.
      const steps = escalationSweep(policy, view, clouds, entries, down);
      const movedIds = new Set<string>();
      for (let step = steps.next(); !step.done;) {
        const { ref: job, decision, why, localFinishAt } = step.value;
        const item = job.data;
        const reason =
          why === 'late'
            ? `escalated: local finish estimated ${new Date(localFinishAt).toISOString()} misses the deadline`
            : this.opts.engines?.includes(model)
              ? `escalated: engine ${model} is not answering (no pool of it consuming)`
              : `escalated: no pool of ${model} for longer than its grace`;
        const from = { target: 'local' as const, provider: model };
        const applied = await rerouter.apply(item, from, decision, { why: reason, statuses: ['queued'] });
        if (applied) {
          moved += 1;
          movedIds.add(job.id);
          metrics.itemEscalated(model, decision.provider, 'deadline');
          await jobs.removeWaiting(queueRefFor('local', model), job.id);
          this.log.log({ msg: 'item escalated', ...itemLogFields(item), from: model, to: decision.provider });
        }
        step = steps.next(applied);
      }
      if (!down)
        await this.defer(
          model,
          view,
          clouds,
          entries.filter((e) => !movedIds.has(e.ref.id)),
          now,
        );
    }
    return moved;
  }

  /**
   * Items left on the queue of a provider this deployment no longer configures (a model renamed or removed from
   * LOCAL_MODELS, a cloud provider removed) would wait for ever: nothing consumes that queue, and neither routing nor
   * the deadline sweep looks at it. Each is routed again, as a move off a provider that is gone (never above its
   * clearance, restricted work to a configured local model). An item pinned to the old model, or with nowhere cleared
   * to go, stays, and the warning says how many. A queue a live pool still serves is left alone.
   */
  private async sweepRetired(now: number): Promise<number> {
    const { jobs, rerouter } = this.opts;
    const retired = await jobs.retiredQueues();
    if (retired.length === 0) return 0;
    const live = new Set((await this.opts.livePools!()).map((p) => `${p.target}:${p.provider}`));
    let moved = 0;
    for (const queue of retired) {
      const from = {
        target: queue.kind === QueueKind.LocalInference ? ('local' as const) : ('cloud' as const),
        provider: queue.provider,
      };
      if (live.has(`${from.target}:${from.provider}`)) continue;
      const waiting = await jobs.waiting<JobName.RunItem>(queue, SWEEP_LIMIT, { delayed: true });
      let stays = 0;
      for (const job of waiting) {
        const decision = await rerouter.propose(job.data, from, {}, now);
        if (!decision) {
          stays += 1;
          continue;
        }
        const why = `moved: ${from.provider} is no longer configured (its queue ${queueName(queue)} has no consumer)`;
        if (!(await rerouter.apply(job.data, from, decision, { why, statuses: ['queued'] }))) {
          await this.followStale(queue, from, job);
          continue;
        }
        moved += 1;
        metrics.itemEscalated(from.provider, decision.provider, 'provider_retired');
        await jobs.removeWaiting(queue, job.id);
        this.log.log({
          msg: 'item moved off a retired queue',
          ...itemLogFields(job.data),
          from: from.provider,
          to: decision.provider,
        });
      }
      if (stays > 0)
        this.log.warn({
          msg: 'items wait on a queue no configured provider serves',
          queue: queueName(queue),
          items: stays,
          hint: `pinned to ${from.provider}, or with nowhere cleared to go: serve ${from.provider} again (LOCAL_MODELS, WORKER_MODELS) or cancel their batches`,
        });
    }
    return moved;
  }

  /**
   * A job on a retired queue whose item is no longer queued there: moved by a sweep whose worker died between
   * writing the move and adding the item's new job (ItemRerouter.apply), or finished. On a live queue a consumer
   * would run the stale job, find the item elsewhere and add that job; nothing consumes a retired queue, so the
   * sweep does it here (idempotent: the job id comes from the route count) and takes the stale job off.
   */
  private async followStale(
    queue: QueueRef,
    from: { target: RouteTarget; provider: string },
    job: { id: string; data: WorkItem },
  ): Promise<void> {
    const view = await this.opts.store.item(job.data.batchId, job.data.index);
    // Still on the retired provider (a move lost a race): the next sweep tries it again.
    if (view?.route?.target === from.target && view.route.provider === from.provider) return;
    if (view?.status === 'queued' && view.route)
      await this.opts.rerouter.enqueueCurrent(
        job.data,
        view.route.target,
        view.route.provider,
        view.routeHistory.length,
      );
    await this.opts.jobs.removeWaiting(queue, job.id);
  }

  /**
   * Late work that nothing can move yields to work that can still make its deadline (libs/routing lateDeferrals):
   * an item no cloud provider with a closed circuit is cleared for (or pinned to its model) waits with a later
   * priority, so that the items behind it that can still be on time run first.
   */
  private async defer(
    model: string,
    view: ProviderView,
    clouds: RoutingState,
    entries: SweepEntry<{ id: string; data: WorkItem; priority: number }>[],
    now: number,
  ): Promise<void> {
    const deferrals = lateDeferrals(
      view,
      entries.map((e) => ({
        ref: e.ref,
        deadline: e.routable.deadline,
        workTokens: e.workTokens,
        deferred: isDeferredPriority(e.ref.priority, e.routable.deadline),
        stuck: cannotMove(e.routable.sensitivity, e.stays, clouds),
      })),
      now,
    );
    for (const job of deferrals) {
      const priority = deadlinePriority(effectiveDeadline(job.data.deadline, true));
      if (await this.opts.jobs.reprioritize(queueRefFor('local', model), job.id, priority)) {
        // Its record says so (deferredAt), unless a worker took it meanwhile.
        await this.opts.store.markDeferred(job.data.batchId, job.data.index, now);
        metrics.itemDeferred(model);
        this.log.log({ msg: 'item deferred', ...itemLogFields(job.data), model, behindMs: DEFER_MS });
      }
    }
  }

  private async routable(
    item: WorkItem,
    tasks: Map<string, BatchTask | null>,
    calibration: TokenCalibration,
  ): Promise<RoutableItem> {
    if (!tasks.has(item.batchId)) tasks.set(item.batchId, await this.opts.store.task(item.batchId));
    const task = tasks.get(item.batchId);
    if (!task)
      return { sensitivity: item.sensitivity, deadline: item.deadline, inputTokens: 0, expectedOutputTokens: 0 };
    return routableItem(item, task, this.opts.maxOutputTokens, calibration);
  }
}
