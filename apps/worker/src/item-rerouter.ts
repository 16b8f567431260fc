import { providerKey, type ItemSpent } from '#libs/batches';
import type { WorkItem } from '#libs/domain';
import type { ItemStatus } from '#libs/domain';
import { routableItem } from '#libs/batches';
import type { ProviderDirectory } from '#libs/pools';
import { JobName, itemJobId, queueRefFor, type QueueLayer } from '#libs/queue';
import { deadlinePriority } from '#libs/queue';
import type { RouteDecision, RouteTarget, RoutingPolicy } from '#libs/routing';
import { isCleared, type Sensitivity } from '#libs/domain';
import { canServe } from '#libs/routing';
import type { AuditRecorder } from '#libs/audit';
import { metrics } from '#libs/metrics';
import type { ItemStore } from './item-store.js';

/** Where reroutes are recorded, and the clearance of each provider for the record. */
export interface RerouteAudit {
  recorder: AuditRecorder;
  clearanceOf(target: RouteTarget, provider: string): Sensitivity | undefined;
}

export interface RerouteOptions {
  /** Only local models (the batch's budget is spent). */
  localOnly?: boolean;
  /** Only cloud providers (the local model's answers keep failing their check). */
  cloudOnly?: boolean;
  /** What the item's calls used on the provider it leaves: it still pays for them (BatchStore.reroute). */
  spent?: ItemSpent;
  /**
   * The item leaves because it failed there (not because a circuit, a budget or a deadline moved it): the
   * move counts toward MAX_FAILED_MOVES, and with `ruleOut` the provider is never tried for it again.
   */
  left?: { ruleOut: boolean };
}

export interface ItemRerouterDeps {
  store: Pick<ItemStore, 'task' | 'item' | 'reroute'>;
  jobs: QueueLayer;
  directory: Pick<ProviderDirectory, 'routingState' | 'calibration'>;
  policy: Pick<RoutingPolicy, 'decide'>;
  maxOutputTokens: number;
  /** Where reroutes are recorded (the audit trail); tests may leave it out. */
  audit?: RerouteAudit;
}

/** A move off a provider: why (audited), from which statuses, and with what it carries. */
export interface RerouteRequest extends RerouteOptions {
  why: string;
  /** Only an item still in one of these moves (default: running). */
  statuses?: readonly ItemStatus[];
}

/** How an applied reroute is recorded: its reason, what may be moved, what the item carries along. */
export interface ApplyOptions {
  why: string;
  statuses: readonly ItemStatus[];
  /** What to keep as the item's last error when it says more than `why` (default: `why`). */
  detail?: string;
  spent?: ItemSpent;
  left?: { ruleOut: boolean };
}

/**
 * Moves an item may make after failing somewhere (refused, answers rejected, retries spent). Each rules a
 * provider out or follows a failure, so a handful covers every provider an operator configures; past it
 * the item fails with each route's reason instead of going round until its deadline.
 */
export const MAX_FAILED_MOVES = 6;

/**
 * Moves an item off a provider that cannot (or can no longer) finish it in time: re-decides with the
 * same RoutingPolicy — so never above clearance — without that provider and any whose circuit is open,
 * records the new route atomically, then enqueues it. A job left on the old queue finds the item routed
 * elsewhere and does nothing; if the worker dies between the two steps, that old job re-enqueues it.
 */
export class ItemRerouter {
  private readonly store: ItemRerouterDeps['store'];
  private readonly jobs: QueueLayer;
  private readonly directory: ItemRerouterDeps['directory'];
  private readonly policy: ItemRerouterDeps['policy'];
  private readonly maxOutputTokens: number;
  private readonly audit?: RerouteAudit;

  constructor(deps: ItemRerouterDeps) {
    ({
      store: this.store,
      jobs: this.jobs,
      directory: this.directory,
      policy: this.policy,
      maxOutputTokens: this.maxOutputTokens,
      audit: this.audit,
    } = deps);
  }

  /** The decision it would make now, without applying it (escalation checks it first). */
  /**
   * Null when the item must not move: it is pinned to its model (docs/routing.md's promise: it runs on that model
   * only, whatever fails), it has moved after failures MAX_FAILED_MOVES times, or nowhere cleared is left.
   */
  async propose(
    item: WorkItem,
    from: { target: RouteTarget; provider: string },
    opts: RerouteOptions = {},
    now = Date.now(),
  ): Promise<RouteDecision | null> {
    if (item.model) return null;
    const [task, view] = await Promise.all([this.store.task(item.batchId), this.store.item(item.batchId, item.index)]);
    if (!task || !view) return null;
    if (opts.left && view.failedMoves >= MAX_FAILED_MOVES) return null;
    // Where it failed for good, it never goes again; where it fails now is ruled out with it.
    const ruledOut = new Set(view.ruledOut.map((r) => providerKey(r.target, r.provider)));
    if (opts.left?.ruleOut) ruledOut.add(providerKey(from.target, from.provider));
    const state = await this.directory.routingState(now);
    // Local models stay candidates even without a live pool: there the item waits rather than leaks.
    const providers = state.providers.filter(
      (p) =>
        !(p.target === from.target && p.name === from.provider) &&
        !ruledOut.has(providerKey(p.target, p.name)) &&
        (p.target === 'local' ? !opts.cloudOnly : p.available !== false && !opts.localOnly),
    );
    // The clouds left out (the one it leaves, those whose circuit is open) may come back: it may park for one.
    const recovering = opts.localOnly
      ? []
      : state.providers.filter(
          (p) => p.target === 'cloud' && !providers.includes(p) && !ruledOut.has(providerKey(p.target, p.name)),
        );
    const routable = routableItem(item, task, this.maxOutputTokens, await this.directory.calibration());
    // Nowhere left that can do what it needs (structured output refused by every cleared cloud, local ruled out).
    if (!providers.some((p) => isCleared(p.clearance, item.sensitivity) && canServe(p, routable))) return null;
    return this.policy.decide(routable, { now, providers, recovering });
  }

  /**
   * Why an item that cannot move on has nowhere to go: each provider it failed on for good, with the reason
   * (error codes and check names, never answer text), for the item's error.
   */
  async deadEnd(item: WorkItem): Promise<string> {
    if (item.model) return `pinned to local model ${item.model}`;
    const view = await this.store.item(item.batchId, item.index);
    if (!view) return 'the item has no record';
    const tried = view.ruledOut.map((r) => `${r.provider}: ${r.reason}`);
    const bounded =
      view.failedMoves >= MAX_FAILED_MOVES ? [`moved after failures ${view.failedMoves} times, the most allowed`] : [];
    return [
      ...bounded,
      ...(tried.length > 0 ? [`ruled out: ${tried.join('; ')}`] : []),
      'no other cleared provider can take it',
    ].join('; ');
  }

  /** Applies a decision: returns false if the item was no longer in `statuses` on `from` (someone else moved it). */
  async apply(
    item: WorkItem,
    from: { target: RouteTarget; provider: string },
    decision: RouteDecision,
    opts: ApplyOptions,
  ): Promise<boolean> {
    const { why, statuses, detail = why, spent, left } = opts;
    const route = {
      target: decision.target,
      provider: decision.provider,
      model: decision.model,
      reason: `${why}; ${decision.reason}`,
      at: new Date().toISOString(),
    };
    const leaving = left && { target: from.target, provider: from.provider, why, ruleOut: left.ruleOut };
    const n = await this.store.reroute({
      batchId: item.batchId,
      index: item.index,
      fromProvider: from.provider,
      route,
      note: detail,
      statuses,
      spent,
      left: leaving,
    });
    if (n === 0) return false;
    metrics.itemRerouted(from, { target: decision.target, provider: decision.provider }, Boolean(decision.parkMs));
    // Recorded once the move is the item's route and before its new job exists. Should this write fail,
    // the old job finds the item routed elsewhere and enqueues it (followRoute); what then leaves is
    // still recorded as egress by the cloud provider itself.
    await this.audit?.recorder.record([
      {
        kind: 'reroute',
        batchId: item.batchId,
        index: item.index,
        itemId: item.itemId,
        target: decision.target,
        provider: decision.provider,
        clearance: this.audit.clearanceOf(decision.target, decision.provider),
        sensitivity: item.sensitivity,
        reason: `from ${from.target} ${from.provider}: ${route.reason}`,
        at: route.at,
      },
    ]);
    await this.enqueueCurrent(item, decision.target, decision.provider, n, decision.parkMs);
    return true;
  }

  /** Proposes and applies a move in one step: the decision applied, or null when the item stays. */
  async reroute(
    item: WorkItem,
    from: { target: RouteTarget; provider: string },
    request: RerouteRequest,
  ): Promise<RouteDecision | null> {
    const { why, statuses = ['running'], ...opts } = request;
    const decision = await this.propose(item, from, opts);
    if (!decision) return null;
    return (await this.apply(item, from, decision, { why, statuses, spent: opts.spent, left: opts.left }))
      ? decision
      : null;
  }

  /** Makes sure the item's current route has a job (idempotent: the id is derived from the route count). */
  /** `parkMs`: the job waits that long first (the item is parked for a provider that is down now). */
  async enqueueCurrent(
    item: WorkItem,
    target: RouteTarget,
    provider: string,
    routeCount: number,
    parkMs?: number,
  ): Promise<void> {
    await this.jobs.enqueue(queueRefFor(target, provider), [
      {
        name: JobName.RunItem,
        data: item,
        jobId: `${itemJobId(item.batchId, item.index)}.r${routeCount}`,
        priority: target === 'local' ? deadlinePriority(item.deadline) : undefined,
        delayMs: parkMs,
      },
    ]);
  }
}
