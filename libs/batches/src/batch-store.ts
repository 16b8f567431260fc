import type { RedisClient } from '#libs/redis';
import type { RouteTarget } from '#libs/routing';
import { BatchBudget } from './batch-budget.js';
import { BatchCancel } from './batch-cancel.js';
import { isAfterCursor, listOrder, type BatchListCursor } from './batch-list-cursor.js';
import {
  BatchCreation,
  backlogShare,
  type CreateOptions,
  type CreatedBatch,
  type IdempotentBatch,
  type NewBatch,
  type NewItem,
} from './batch-creation.js';
import { BatchKeys } from './batch-keys.js';
import type { BatchView, ItemStatus, ItemView, BatchTask } from '#libs/domain';
import { BatchViews } from './batch-views.js';
import { BatchEvents } from './batch-events.js';
import {
  ItemTransitions,
  type ItemReroute,
  type ItemTransition,
  type ItemUpdate,
  type LateCharge,
  type TransitionOutcome,
} from './item-transitions.js';
import { ProviderBacklog } from './provider-backlog.js';
import { BatchRetention } from './batch-retention.js';
import { OpenAIKeys } from './openai/openai-keys.js';
import { OpenAIBatchRetention } from './openai/openai-retention.js';
import { PendingIntakes } from './pending-intakes.js';

// Where callers have always imported these from.
export type { ItemSpent } from './batch-budget.js';
export type { CreateOptions, CreatedBatch, IdempotentBatch, NewBatch, NewItem } from './batch-creation.js';
export { providerKey } from './item-transitions.js';
export type {
  ItemLeaving,
  ItemReroute,
  ItemTransition,
  ItemUpdate,
  LateCharge,
  TransitionOutcome,
} from './item-transitions.js';

/**
 * Batch and item records in Redis, one room per job: creation, views, item transitions (the only way a
 * status changes: guarded Lua, exact under concurrent workers, retries and crashes), budget, cancel,
 * provider backlog. This class only builds them over one client and prefix and keeps the names callers use.
 */
export class BatchStore {
  readonly creation: BatchCreation;
  readonly views: BatchViews;
  readonly transitions: ItemTransitions;
  readonly budget: BatchBudget;
  readonly cancellation: BatchCancel;
  readonly backlogs: ProviderBacklog;
  /** Each batch's event stream, as GET /v1/batches/:id/events reads it. */
  readonly events: BatchEvents;
  /** Deletes batches finished more than RESULT_TTL ago (the worker's retention sweep). */
  readonly retention: BatchRetention;
  /** Batches accepted on their validated body, not yet expanded into items (issue 17 §2). */
  readonly pending: PendingIntakes;

  constructor(redis: RedisClient, prefix: string) {
    const keys = new BatchKeys(prefix);
    this.creation = new BatchCreation(redis, keys);
    this.views = new BatchViews(redis, keys);
    this.transitions = new ItemTransitions(redis, keys);
    this.budget = new BatchBudget(redis, keys);
    this.cancellation = new BatchCancel(redis, keys, this.transitions);
    this.backlogs = new ProviderBacklog(redis, keys);
    this.events = new BatchEvents(keys);
    this.retention = new BatchRetention(
      redis,
      keys,
      // A batch still validating (accepted, not yet expanded by a worker) has its intake record and no hash yet: it
      // exists too. Both keys carry the batch's hash tag, so one EXISTS asks for both on a Cluster.
      new OpenAIBatchRetention(
        redis,
        new OpenAIKeys(prefix),
        async (id) => (await redis.exists(keys.batch(id), keys.intake(id))) > 0,
      ),
    );
    this.pending = new PendingIntakes(redis, keys);
  }

  /**
   * The batch an idempotency key created, once its records exist: a claim whose batch was never written
   * (its creator died) reads as none, and `create` with the same key writes it under the claimed id.
   */
  async findByIdempotencyKey(key: string): Promise<IdempotentBatch | null> {
    const found = await this.creation.findByIdempotencyKey(key);
    return found && (await this.views.exists(found.id)) ? found : null;
  }

  /** Claims an idempotency key for a batch accepted before its items exist: null, or what the key names already. */
  claimIdempotencyKey(key: string, id: string, bodyHash: string): Promise<IdempotentBatch | null> {
    return this.creation.claim(key, id, bodyHash);
  }

  releaseIdempotencyKey(key: string): Promise<void> {
    return this.creation.release(key);
  }

  /** Creates the batch; its work counts in this process's routing backlog at once (ProviderBacklog.createdBatch). */
  async create(batch: NewBatch, items: NewItem[], options?: CreateOptions): Promise<CreatedBatch> {
    const created = await this.creation.create(batch, items, options);
    if (created.created) this.backlogs.createdBatch(created.id, backlogShare(items));
    return created;
  }

  /** Puts an existing batch in the indexes (again): idempotent, for a submission resumed after a crash. */
  completeCreation(id: string): Promise<void> {
    return this.creation.index(id);
  }

  markEnqueued(id: string): Promise<void> {
    return this.creation.markEnqueued(id);
  }

  isEnqueued(id: string): Promise<boolean> {
    return this.creation.isEnqueued(id);
  }

  exists(id: string): Promise<boolean> {
    return this.views.exists(id);
  }

  /** The batch, or while a worker expands it into items, its pending view (`validating`, or `failed`). */
  async get(id: string): Promise<BatchView | null> {
    return (await this.views.get(id)) ?? (await this.pending.view(id));
  }

  task(id: string): Promise<BatchTask | null> {
    return this.views.task(id);
  }

  /**
   * Newest first, as BatchViews.list, with the batches a worker is still expanding among them at the time they
   * were accepted (`validating`, or `failed` when the expansion refused them): a client that lists right after
   * its 202 finds its batch, as GET by id does. The pending list holds only what the workers have not expanded
   * yet, so it is read whole.
   */
  async list(limit: number, before?: BatchListCursor, tenant?: string): Promise<BatchView[]> {
    const [written, listed] = await Promise.all([this.views.list(limit, before, tenant), this.pending.listed()]);
    const candidates = listed
      .filter((p) => isAfterCursor(p.acceptedAt, p.id, before))
      .sort((a, b) => b.acceptedAt - a.acceptedAt || (a.id < b.id ? 1 : -1));
    if (candidates.length === 0) return written;
    const known = new Set(written.map((b) => b.id));
    // The pending records carry no tenant: the views are read newest first, a page at a time, until `limit` of
    // the caller's own are found, so other tenants' newer batches cannot push the caller's off the page.
    const pending: BatchView[] = [];
    for (let at = 0; at < candidates.length && pending.length < limit; at += limit) {
      const page = await Promise.all(candidates.slice(at, at + limit).map((p) => this.pending.view(p.id)));
      for (const v of page) {
        if (v !== null && !known.has(v.id) && (tenant === undefined || v.tenant === tenant)) pending.push(v);
      }
    }
    // A batch expanded between the two reads is in the first (its record is gone from the second by then).
    return [...written, ...pending].sort(listOrder).slice(0, limit);
  }

  items(batchId: string, offset: number, limit: number): Promise<ItemView[]> {
    return this.views.items(batchId, offset, limit);
  }

  eachItem(batchId: string, pageSize?: number): AsyncGenerator<ItemView> {
    return this.views.eachItem(batchId, pageSize);
  }

  item(batchId: string, index: number): Promise<ItemView | null> {
    return this.views.item(batchId, index);
  }

  onBatchFinished(listener: (batchId: string) => void): void {
    this.transitions.onBatchFinished(listener);
  }

  /**
   * Moves an item to `to` if its status is one of `from`, wherever it is routed; returns whether it did.
   * Kept positional (the many worker call sites read as a sentence); `transitionOn` takes the full options.
   */
  async transition(
    batchId: string,
    index: number,
    from: readonly ItemStatus[],
    to: ItemStatus,
    update: ItemUpdate = {},
    now = Date.now(),
  ): Promise<boolean> {
    return (await this.transitions.move({ batchId, index, from, to, update, now })) === 'applied';
  }

  /** Like transition, but only while the item is routed to `provider`: 'elsewhere' means its job is stale. */
  transitionOn(transition: ItemTransition & { provider: string }): Promise<TransitionOutcome> {
    return this.transitions.move(transition);
  }

  /** Moves the item (ItemTransitions.reroute); its work counts where it went in this process's routing at once. */
  async reroute(reroute: ItemReroute): Promise<number> {
    const { routes, moved } = await this.transitions.reroute(reroute);
    if (moved) this.backlogs.movedWork(moved);
    return routes;
  }

  /** A call of the item's was answered without its usage, counted at its bound (ItemTransitions.markUsageEstimated). */
  markUsageEstimated(batchId: string, index: number): Promise<boolean> {
    return this.transitions.markUsageEstimated(batchId, index);
  }

  /** The escalation watchdog deferred the item (ItemTransitions.markDeferred). */
  markDeferred(batchId: string, index: number, now?: number): Promise<boolean> {
    return this.transitions.markDeferred(batchId, index, now);
  }

  /** A provider's bill for a call the item had already left (a provider batch line it was escalated from). */
  chargeLate(charge: LateCharge): ReturnType<ItemTransitions['chargeLate']> {
    return this.transitions.chargeLate(charge);
  }

  cancel(batchId: string): Promise<number[]> {
    return this.cancellation.cancel(batchId);
  }

  isCancelRequested(batchId: string): Promise<boolean> {
    return this.cancellation.isRequested(batchId);
  }

  reserveBudget(batchId: string, usd: number): Promise<boolean> {
    return this.budget.reserve(batchId, usd);
  }

  releaseBudget(batchId: string, usd: number): Promise<void> {
    return this.budget.release(batchId, usd);
  }

  /** Work waiting or running on a provider, in generation-equivalent tokens. */
  backlog(target: RouteTarget, provider: string): Promise<number> {
    return this.backlogs.tokens(target, provider);
  }

  /** Every provider's backlog, read once and exactly (ProviderBacklog.all). */
  allBacklogs(): Promise<(target: RouteTarget, provider: string) => number> {
    return this.backlogs.all();
  }

  /** Every provider's backlog as a routing call uses it: a shared read at most a few seconds old (ProviderBacklog.routing). */
  routingBacklogs(): Promise<(target: RouteTarget, provider: string) => number> {
    return this.backlogs.routing();
  }
}
