import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Sensitivity } from '#libs/domain';
import type { BatchKeys } from './batch-keys.js';
import type {
  BatchKind,
  BatchOrigin,
  BranchOutputSpec,
  CallbackEvent,
  BranchOutputStatus,
  ItemPrivacy,
  ItemRoute,
  BatchTask,
} from '#libs/domain';

export interface NewBatch {
  maxCostUsd?: number;
  kind: BatchKind;
  sensitivity: Sensitivity;
  deadlineAt: number;
  task: BatchTask;
  createdAt: number;
  /** Whose batch it is (the creating API key's tenant); null when created without a key (open mode). */
  tenant?: string | null;
  /** A branch to write the migrated files to once every item has finished. */
  output?: BranchOutputSpec;
  origin?: BatchOrigin;
  /** Where to POST signed events about the batch (BatchCallbacks); events already defaulted. */
  callback?: { url: string; events: CallbackEvent[] };
}

export interface NewItem {
  itemId: string;
  sensitivity: Sensitivity;
  pii: ItemPrivacy;
  route: ItemRoute;
  /** Estimated generation-equivalent tokens this item adds to its provider's backlog. */
  workTokens: number;
  /** When the routing policy expects the item to finish (ms): the batch's estimate is the max over open items. */
  estimatedFinishAt?: number;
}

/** What an idempotency key names: the batch, and the hash of the body that created it. */
export interface IdempotentBatch {
  id: string;
  bodyHash: string | null;
}

/** `created: false`: the idempotency key had created this batch before, from a body with `bodyHash`. */
export interface CreatedBatch {
  id: string;
  created: boolean;
  bodyHash?: string | null;
}

/** `<batch id> <body hash>`, or a bare id as stored before bodies were hashed. */
function idempotentBatch(value: string | null): IdempotentBatch | null {
  if (!value) return null;
  const [id, bodyHash] = value.split(' ');
  return { id, bodyHash: bodyHash ?? null };
}

/**
 * Creating a batch: its record, its items and their backlog, its place in the indexes, all in one MULTI;
 * an idempotency key claimed first, so a retried submission finds the batch it already created. The jobs
 * are enqueued after the records (markEnqueued), so a crash in between loses nothing accepted.
 */
export class BatchCreation {
  constructor(
    private readonly redis: Redis,
    private readonly keys: BatchKeys,
  ) {}

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
  async create(batch: NewBatch, items: NewItem[], idempotencyKey?: string, bodyHash?: string): Promise<CreatedBatch> {
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
    const estimates = items.flatMap((item, index) =>
      item.estimatedFinishAt === undefined ? [] : [item.estimatedFinishAt, index],
    );
    if (estimates.length > 0) multi.zadd(this.keys.estimates(id), ...estimates);
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
      ...(batch.output === undefined
        ? {}
        : { output: JSON.stringify(batch.output), outputStatus: 'pending' satisfies BranchOutputStatus }),
      ...(batch.origin === undefined ? {} : { origin: JSON.stringify(batch.origin) }),
      ...(batch.callback === undefined ? {} : { callback: JSON.stringify(batch.callback) }),
    });
    // Like an output: a callback can never be forgotten between creation and the batch's end.
    if (batch.callback !== undefined) multi.sadd(this.keys.pendingCallbacks(), id);
    // In the same MULTI as the batch: an output can never be forgotten between creation and the write.
    if (batch.output !== undefined) multi.sadd(this.keys.pendingOutputs(), id);
    multi.zadd(this.keys.index(), batch.createdAt, id);
    if (batch.tenant) multi.zadd(this.keys.tenantIndex(batch.tenant), batch.createdAt, id);
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
}
