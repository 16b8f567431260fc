import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Sensitivity } from '#libs/routing/src/sensitivity.js';
import type { RouteTarget } from '#libs/routing/src/routing-policy.js';
import { batchStatus } from './batch-status.js';
import { BatchKeys } from './batch-keys.js';
import type { BatchKind, BatchOrigin, BatchView, BranchOutputSpec, BranchOutputStatus, BranchOutputView, CodeMigrationTask, DocumentTask, ItemCounts, ItemPrivacy, ItemRoute, ItemStatus, ItemView } from './batch-types.js';
import { defineScript } from '#libs/redis/src/redis-script.js';
import { ITEM_REROUTE } from './item-reroute.lua.js';
import { ITEM_TRANSITION } from './item-transition.lua.js';
import { RESERVE_BUDGET } from './reserve-budget.lua.js';
import { SPENT_FIELD } from './carry-spent.lua.js';

export interface NewBatch {
  maxCostUsd?: number;
  kind: BatchKind;
  sensitivity: Sensitivity;
  deadlineAt: number;
  task: DocumentTask | CodeMigrationTask;
  createdAt: number;
  /** Whose batch it is (the creating API key's tenant); null when created without a key (open mode). */
  tenant?: string | null;
  /** A branch to write the migrated files to once every item has finished. */
  output?: BranchOutputSpec;
  origin?: BatchOrigin;
}

export interface NewItem {
  itemId: string;
  sensitivity: Sensitivity;
  pii: ItemPrivacy;
  route: ItemRoute;
  /** Estimated generation-equivalent tokens this item adds to its provider's backlog. */
  workTokens: number;
}

/** Fields a transition may set on an item. */
export interface ItemUpdate {
  result?: string;
  /** Code items: the unified diff from the original file to the result. */
  diff?: string;
  error?: string;
  inputTokens?: number;
  outputTokens?: number;
  costUsd?: number;
  /**
   * What the calls of an attempt that failed used, for an item going back to its queue to be tried again
   * (which starts its tally over): kept as spent*, added to its usage when it finishes, as a reroute's are.
   */
  carry?: ItemSpent;
}

const ITEM_PAGE_MAX = 1000;

/**
 * Batch and item records in Redis. Counters and statuses change only through one Lua transition,
 * so they stay exact under concurrent workers, retries and crashes.
 */
export class BatchStore {
  private readonly keys: BatchKeys;
  private readonly finishedListeners: Array<(batchId: string) => void> = [];
  private readonly itemTransition;
  private readonly itemReroute;
  private readonly reserve;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new BatchKeys(prefix);
    this.itemTransition = defineScript(redis, ITEM_TRANSITION);
    this.itemReroute = defineScript(redis, ITEM_REROUTE);
    this.reserve = defineScript(redis, RESERVE_BUDGET);
  }

  /**
   * The batch an idempotency key already created, if any, with the hash of the body that created it (null
   * for keys stored before bodies were hashed).
   */
  async findByIdempotencyKey(key: string): Promise<IdempotentBatch | null> {
    return idempotentBatch(await this.redis.get(this.keys.idempotency(key)));
  }

  /**
   * Writes a batch and its items in one MULTI. With an idempotency key, a second call with the same key
   * returns the first batch's id and body hash instead of creating another (`created: false`).
   */
  async create(
    batch: NewBatch,
    items: NewItem[],
    idempotencyKey?: string,
    bodyHash?: string,
  ): Promise<{ id: string; created: boolean; bodyHash?: string | null }> {
    const id = randomUUID();
    if (idempotencyKey) {
      const value = bodyHash === undefined ? id : `${id} ${bodyHash}`;
      const claimed = await this.redis.set(this.keys.idempotency(idempotencyKey), value, 'EX', 7 * 86_400, 'NX');
      if (claimed !== 'OK') {
        const existing = idempotentBatch(await this.redis.get(this.keys.idempotency(idempotencyKey)));
        if (existing) return { id: existing.id, created: false, bodyHash: existing.bodyHash };
      }
    }
    const multi = this.redis.multi();
    const routes = { local: 0, cloud: 0 };
    items.forEach((item, index) => {
      routes[item.route.target] += 1;
      const backlogKey = this.keys.backlog(item.route.target, item.route.provider);
      multi.hset(this.keys.item(id, index), {
        id: item.itemId,
        index,
        sensitivity: item.sensitivity,
        pii: JSON.stringify(item.pii),
        status: 'queued',
        routes: JSON.stringify([item.route]),
        target: item.route.target,
        provider: item.route.provider,
        attempts: 0,
        backlogKey,
        backlogWork: item.workTokens,
      });
      multi.incrbyfloat(backlogKey, item.workTokens);
    });
    multi.hset(this.keys.batch(id), {
      id,
      kind: batch.kind,
      sensitivity: batch.sensitivity,
      deadline: batch.deadlineAt,
      task: JSON.stringify(batch.task),
      createdAt: batch.createdAt,
      total: items.length,
      queued: items.length,
      running: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
      routesLocal: routes.local,
      routesCloud: routes.cloud,
      inputTokens: 0,
      outputTokens: 0,
      costUsd: 0,
      enqueued: 0,
      ...(batch.maxCostUsd === undefined ? {} : { maxCostUsd: batch.maxCostUsd, reservedUsd: 0 }),
      ...(batch.tenant ? { tenant: batch.tenant } : {}),
      ...(batch.output === undefined ? {} : { output: JSON.stringify(batch.output), outputStatus: 'pending' satisfies BranchOutputStatus }),
      ...(batch.origin === undefined ? {} : { origin: JSON.stringify(batch.origin) }),
    });
    // In the same MULTI as the batch: an output can never be forgotten between creation and the write.
    if (batch.output !== undefined) multi.sadd(this.keys.pendingOutputs(), id);
    multi.zadd(this.keys.index(), batch.createdAt, id);
    if (batch.tenant) multi.zadd(this.tenantIndex(batch.tenant), batch.createdAt, id);
    try {
      await multi.exec();
    } catch (err) {
      if (idempotencyKey) await this.redis.del(this.keys.idempotency(idempotencyKey));
      throw err;
    }
    return { id, created: true };
  }

  /** Records that every item's job is in its queue (jobs use deterministic ids, so re-adding is safe). */
  async markEnqueued(id: string): Promise<void> {
    await this.redis.hset(this.keys.batch(id), 'enqueued', 1);
  }

  async isEnqueued(id: string): Promise<boolean> {
    return (await this.redis.hget(this.keys.batch(id), 'enqueued')) === '1';
  }

  async exists(id: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.batch(id))) === 1;
  }

  async get(id: string): Promise<BatchView | null> {
    const h = await this.redis.hgetall(this.keys.batch(id));
    return h.id ? toBatchView(h) : null;
  }

  async task(id: string): Promise<DocumentTask | CodeMigrationTask | null> {
    const raw = await this.redis.hget(this.keys.batch(id), 'task');
    return raw ? JSON.parse(raw) : null;
  }

  /** Newest first. `before` is the createdAt (ms) of the last batch of the previous page; `tenant`: only its batches. */
  async list(limit: number, before?: number, tenant?: string): Promise<BatchView[]> {
    const index = tenant === undefined ? this.keys.index() : this.tenantIndex(tenant);
    const ids = await this.redis.zrevrangebyscore(index, before === undefined ? '+inf' : `(${before}`, '-inf', 'LIMIT', 0, limit);
    const pipeline = this.redis.pipeline();
    ids.forEach((id) => pipeline.hgetall(this.keys.batch(id)));
    const rows = (await pipeline.exec()) ?? [];
    return rows.map(([, h]) => h as Record<string, string>).filter((h) => h.id).map(toBatchView);
  }

  async items(batchId: string, offset: number, limit: number): Promise<ItemView[]> {
    const total = Number(await this.redis.hget(this.keys.batch(batchId), 'total'));
    const end = Math.min(total, offset + Math.min(limit, ITEM_PAGE_MAX));
    const pipeline = this.redis.pipeline();
    for (let i = offset; i < end; i++) pipeline.hgetall(this.keys.item(batchId, i));
    const rows = (await pipeline.exec()) ?? [];
    return rows.map(([, h]) => toItemView(h as Record<string, string>));
  }

  /** Every item of a batch, a page at a time (items() caps a page), so a 10k-item batch never sits in memory. */
  async *eachItem(batchId: string, pageSize = 200): AsyncGenerator<ItemView> {
    const total = Number(await this.redis.hget(this.keys.batch(batchId), 'total'));
    for (let offset = 0; offset < total; offset += pageSize) {
      yield* await this.items(batchId, offset, pageSize);
    }
  }

  async item(batchId: string, index: number): Promise<ItemView | null> {
    const h = await this.redis.hgetall(this.keys.item(batchId, index));
    return h.status ? toItemView(h) : null;
  }

  /**
   * Calls `listener` (in this process) whenever a transition here finishes a batch: its last open item
   * reached a terminal status. A hint for prompt follow-up work (a branch output); whatever must survive a
   * crash between the transition and the listener is also found by a sweep.
   */
  onBatchFinished(listener: (batchId: string) => void): void {
    this.finishedListeners.push(listener);
  }

  /**
   * Moves an item to `to` if its status is one of `from`; returns whether it did. Terminal moves add
   * the item's usage and cost to the batch and release its backlog, exactly once.
   */
  async transition(batchId: string, index: number, from: readonly ItemStatus[], to: ItemStatus, update: ItemUpdate = {}, now = Date.now()): Promise<boolean> {
    return (await this.transitionOn(batchId, index, '', from, to, update, now)) === 'applied';
  }

  /**
   * Like transition, but only while the item is routed to `provider`: 'elsewhere' means a reroute moved it
   * and the caller's job is stale.
   */
  async transitionOn(
    batchId: string,
    index: number,
    provider: string,
    from: readonly ItemStatus[],
    to: ItemStatus,
    update: ItemUpdate = {},
    now = Date.now(),
  ): Promise<'applied' | 'not-allowed' | 'elsewhere' | 'missing'> {
    const { carry, ...set } = update;
    const fields = Object.entries(set).flatMap(([k, v]) => (v === undefined ? [] : [k, String(v)]));
    if (carry) fields.push(SPENT_FIELD, [carry.inputTokens, carry.outputTokens, round9(carry.costUsd)].join(','));
    const code = await this.itemTransition(
      { item: this.keys.item(batchId, index), batch: this.keys.batch(batchId) },
      [from.join(','), to, String(now), provider, ...fields],
    );
    if (code === 3) for (const listener of this.finishedListeners) listener(batchId);
    return code === 1 || code === 3 ? 'applied' : code === 2 ? 'elsewhere' : code === 0 ? 'not-allowed' : 'missing';
  }

  /**
   * Moves an item from `fromProvider` to another provider: queued again, new route appended to its history.
   * Applies only while the item is in one of `statuses` and still routed to `fromProvider`. Returns the
   * number of routes the item now has (a stable suffix for the new job's id), or 0 when it did not apply.
   */
  /** `spent`: what the item's calls on `fromProvider` used; added to its usage when it finishes elsewhere. */
  /** `left`: the item leaves because it failed there (counted; with ruleOut, never routed there again). */
  async reroute(
    batchId: string,
    index: number,
    fromProvider: string,
    route: ItemRoute,
    note: string,
    statuses: readonly ItemStatus[] = ['running'],
    spent?: ItemSpent,
    left?: ItemLeaving,
  ): Promise<number> {
    return this.itemReroute(
      { item: this.keys.item(batchId, index), batch: this.keys.batch(batchId), backlog: this.keys.backlog(route.target, route.provider) },
      [
        JSON.stringify(route),
        note,
        statuses.join(','),
        fromProvider,
        left ? JSON.stringify({ key: providerKey(left.target, left.provider), why: left.why, ruleOut: left.ruleOut }) : '',
        ...(spent ? ([String(spent.inputTokens), String(spent.outputTokens), String(round9(spent.costUsd))] as const) : ([] as const)),
      ],
    );
  }

  /**
   * Cancels every item that has not started and flags the batch so workers abort the running ones;
   * returns the indexes it cancelled here.
   */
  async cancel(batchId: string): Promise<number[]> {
    await this.redis.hset(this.keys.batch(batchId), 'cancelRequested', 1);
    const total = Number(await this.redis.hget(this.keys.batch(batchId), 'total'));
    const indexes = Array.from({ length: total }, (_, i) => i);
    const applied = await Promise.all(
      indexes.map((index) => this.transition(batchId, index, ['queued'], 'cancelled', { error: 'cancelled before it started' })),
    );
    return indexes.filter((index) => applied[index]);
  }

  /**
   * Reserves `usd` of the batch's budget before a cloud call, atomically: check-then-spend would let
   * concurrent workers overshoot. True when reserved (or the batch has no budget); false when it would
   * exceed maxCostUsd (the batch is then marked as having reached its budget).
   */
  async reserveBudget(batchId: string, usd: number): Promise<boolean> {
    return (await this.reserve({ batch: this.keys.batch(batchId) }, [String(usd)])) === 1;
  }

  /** Gives a reservation back once the call is over (its actual cost is added by the item's transition). */
  async releaseBudget(batchId: string, usd: number): Promise<void> {
    await this.reserve({ batch: this.keys.batch(batchId) }, [String(-usd)]);
  }

  async isCancelRequested(batchId: string): Promise<boolean> {
    return (await this.redis.hget(this.keys.batch(batchId), 'cancelRequested')) === '1';
  }

  private tenantIndex(tenant: string): string {
    return `${this.keys.index()}:tenant:${tenant}`;
  }

  /** Work waiting or running on a provider, in generation-equivalent tokens. */
  async backlog(target: RouteTarget, provider: string): Promise<number> {
    return Math.max(0, Number((await this.redis.get(this.keys.backlog(target, provider))) ?? 0));
  }
}

/** Why an item leaves a provider it failed on; `ruleOut`: never route it there again (a refusal, rejected answers). */
export interface ItemLeaving {
  target: RouteTarget;
  provider: string;
  why: string;
  ruleOut: boolean;
}

/** How a provider is named in an item's ruledOut record. */
export function providerKey(target: RouteTarget, provider: string): string {
  return `${target}:${provider}`;
}

/** Tokens and cost an item's calls used on one provider. */
export interface ItemSpent {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** What an idempotency key names: the batch, and the hash of the body that created it. */
export interface IdempotentBatch {
  id: string;
  bodyHash: string | null;
}

/** `<batch id> <body hash>`, or a bare id as stored before bodies were hashed. */
function idempotentBatch(value: string | null): IdempotentBatch | null {
  if (!value) return null;
  const [id, bodyHash] = value.split(' ');
  return { id, bodyHash: bodyHash ?? null };
}

function round9(n: number): number {
  return Math.round(n * 1e9) / 1e9;
}

function num(v: string | undefined): number {
  return v === undefined || v === '' ? 0 : Number(v);
}

/**
 * A stored epoch as ISO-8601; null when absent or outside the calendar. Records written before deadlines
 * were bounded can hold `P300000Y` from their creation: a read must never throw RangeError (a 500).
 */
function iso(v: string | undefined): string | null {
  const at = v ? new Date(Number(v)) : null;
  return at === null || Number.isNaN(at.getTime()) ? null : at.toISOString();
}

function toBatchView(h: Record<string, string>): BatchView {
  const counts: ItemCounts = {
    total: num(h.total),
    queued: num(h.queued),
    running: num(h.running),
    completed: num(h.completed),
    failed: num(h.failed),
    cancelled: num(h.cancelled),
  };
  return {
    id: h.id,
    kind: h.kind as BatchKind,
    status: batchStatus(counts),
    counts,
    sensitivity: h.sensitivity as Sensitivity,
    deadline: iso(h.deadline)!,
    routes: { local: num(h.routesLocal), cloud: num(h.routesCloud) },
    usage: { inputTokens: num(h.inputTokens), outputTokens: num(h.outputTokens) },
    cost: { usd: Math.round(num(h.costUsd) * 1e9) / 1e9 },
    budget:
      h.maxCostUsd === undefined
        ? null
        : {
            maxUsd: num(h.maxCostUsd),
            spentUsd: round9(num(h.costUsd) + Math.max(0, num(h.carriedUsd))),
            reservedUsd: round9(Math.max(0, num(h.reservedUsd))),
            reached: h.budgetReached === '1',
          },
    createdAt: iso(h.createdAt)!,
    finishedAt: iso(h.finishedAt),
    tenant: h.tenant ?? null,
    output: h.output ? toBranchOutputView(h) : null,
    origin: h.origin ? (JSON.parse(h.origin) as BatchOrigin) : null,
  };
}

function toBranchOutputView(h: Record<string, string>): BranchOutputView {
  const spec = JSON.parse(h.output) as BranchOutputSpec;
  return {
    branch: spec.branch,
    base: spec.base,
    status: (h.outputStatus ?? 'pending') as BranchOutputStatus,
    commit: h.outputCommit ?? null,
    files: num(h.outputFiles),
    notWritten: h.outputNotWritten ? (JSON.parse(h.outputNotWritten) as string[]) : [],
    error: h.outputError ?? null,
  };
}

function ruledOutOf(raw: string): ItemView['ruledOut'] {
  return Object.entries(JSON.parse(raw) as Record<string, string>).map(([key, reason]) => {
    const at = key.indexOf(':');
    return { target: key.slice(0, at) as RouteTarget, provider: key.slice(at + 1), reason };
  });
}

function toItemView(h: Record<string, string>): ItemView {
  const routeHistory: ItemRoute[] = h.routes ? JSON.parse(h.routes) : [];
  const current = routeHistory.at(-1);
  const done = h.status === 'completed';
  return {
    id: h.id,
    index: num(h.index),
    status: h.status as ItemStatus,
    sensitivity: h.sensitivity as Sensitivity,
    pii: h.pii ? (JSON.parse(h.pii) as ItemPrivacy) : null,
    route: current ? { target: current.target, provider: current.provider, model: current.model, reason: current.reason } : null,
    routeHistory,
    usage: done || h.inputTokens ? { inputTokens: num(h.inputTokens), outputTokens: num(h.outputTokens) } : null,
    costUsd: done || h.costUsd ? num(h.costUsd) : null,
    result: h.result ?? null,
    diff: h.diff ?? null,
    error: h.error ?? null,
    attempts: num(h.attempts),
    ruledOut: h.ruledOut ? ruledOutOf(h.ruledOut) : [],
    failedMoves: num(h.failedMoves),
    startedAt: iso(h.startedAt),
    finishedAt: iso(h.finishedAt),
  };
}
