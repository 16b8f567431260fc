import { randomUUID } from 'node:crypto';
import { defineKeyListScript, type RedisClient } from '#libs/redis';
import type { Sensitivity } from '#libs/domain';
import type { BatchKeys } from './batch-keys.js';
import { CREATE_BATCH, createBatchArgs } from './create-batch.lua.js';
import { providerKey } from './item-transitions.js';
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

/** Field, value pairs as the creation script takes them: every value a string, as Redis stores it. */
function pairs(record: Record<string, string | number>): string[] {
  return Object.entries(record).flatMap(([k, v]) => [k, String(v)]);
}

/**
 * Creating a batch, in an order that holds on a Redis Cluster, where a batch's records (its slot) and the
 * global records (indexes, idempotency, pending outputs, open backlogs: the global slot) cannot change in
 * one atomic step (issue 14 §4):
 * 1. the idempotency key is claimed for a new id (global slot), so a retried submission finds that id;
 * 2. the batch, its items and its backlog are written in one script, only if the batch does not exist
 *    (its slot): a retry whose claim names a batch that was never written (its creator died between 1 and
 *    2) writes it under the claimed id, and of two writers only one creates it;
 * 3. the batch joins the indexes, the pending outputs and the open backlogs (one MULTI in the global slot).
 *    Every step of 3 is idempotent, and a resumed submission (BatchIntake.resume) runs it again, so a crash
 *    between 2 and 3 is healed by the retry; a batch nobody retries was never answered 202 and has no job.
 * The jobs are enqueued after all of it (markEnqueued), so a crash in between loses nothing accepted.
 */
export class BatchCreation {
  private readonly createScript;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: BatchKeys,
  ) {
    this.createScript = defineKeyListScript(redis, CREATE_BATCH);
  }

  /**
   * The batch an idempotency key already created, if any, with the hash of the body that created it (null
   * for keys stored before bodies were hashed).
   */
  async findByIdempotencyKey(key: string): Promise<IdempotentBatch | null> {
    return idempotentBatch(await this.redis.get(this.keys.idempotency(key)));
  }

  /**
   * Writes a batch and its items (steps above). With an idempotency key, a second call with the same key
   * returns the first batch's id and body hash instead of creating another (`created: false`).
   */
  async create(batch: NewBatch, items: NewItem[], idempotencyKey?: string, bodyHash?: string): Promise<CreatedBatch> {
    let id: string = randomUUID();
    let claimed = false;
    if (idempotencyKey) {
      const value = bodyHash === undefined ? id : `${id} ${bodyHash}`;
      claimed = (await this.redis.set(this.keys.idempotency(idempotencyKey), value, 'EX', 7 * 86_400, 'NX')) === 'OK';
      if (!claimed) {
        const existing = idempotentBatch(await this.redis.get(this.keys.idempotency(idempotencyKey)));
        if (existing) {
          if (existing.bodyHash !== bodyHash || (await this.redis.exists(this.keys.batch(existing.id))) === 1) {
            if (existing.bodyHash === bodyHash) await this.index(existing.id);
            return { id: existing.id, created: false, bodyHash: existing.bodyHash };
          }
          // Claimed for this very body, but its batch was never written: this call writes it under that id.
          id = existing.id;
        }
      }
    }
    let written: 0 | 1;
    try {
      written = await this.write(id, batch, items);
    } catch (err) {
      if (claimed && idempotencyKey) await this.redis.del(this.keys.idempotency(idempotencyKey));
      throw err;
    }
    // The estimates (the batch's slot) and step 3 (the global slot) at once: one round trip, not two (issue 17).
    await Promise.all([written === 1 && this.writeEstimates(id, items), this.index(id, batch)]);
    return written === 1 ? { id, created: true } : { id, created: false, bodyHash: bodyHash ?? null };
  }

  /**
   * The routing estimate of each open item (estimatedFinishAt), in the batch's slot: an estimate a crash
   * right here loses only leaves the batch's estimate null, it changes no item.
   */
  private async writeEstimates(id: string, items: NewItem[]): Promise<void> {
    const estimates = items.flatMap((item, index) =>
      item.estimatedFinishAt === undefined ? [] : [item.estimatedFinishAt, index],
    );
    if (estimates.length > 0) await this.redis.zadd(this.keys.estimates(id), ...estimates);
  }

  /** Step 2: the batch's own records, in its slot, unless it exists. */
  private async write(id: string, batch: NewBatch, items: NewItem[]): Promise<0 | 1> {
    const routes = { local: 0, cloud: 0 };
    const backlog = new Map<string, number>();
    const itemFields = items.map((item, index) => {
      routes[item.route.target] += 1;
      const backlogField = providerKey(item.route.target, item.route.provider);
      backlog.set(backlogField, (backlog.get(backlogField) ?? 0) + item.workTokens);
      return pairs({
        id: item.itemId,
        index,
        sensitivity: item.sensitivity,
        pii: JSON.stringify(item.pii),
        status: 'queued',
        routes: JSON.stringify([item.route]),
        target: item.route.target,
        provider: item.route.provider,
        attempts: 0,
        backlogField,
        backlogWork: item.workTokens,
      });
    });
    const batchFields = pairs({
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
    return this.createScript(
      [this.keys.batch(id), this.keys.batchBacklog(id), ...items.map((_, index) => this.keys.item(id, index))],
      createBatchArgs([batchFields, pairs(Object.fromEntries(backlog)), ...itemFields]),
    );
  }

  /**
   * Step 3: the batch in the indexes, among the pending outputs when it has one, and among the batches whose
   * backlog counts. Idempotent; without `batch`, what it needs is read from the stored batch (a resumed one).
   */
  async index(id: string, batch?: Pick<NewBatch, 'createdAt' | 'tenant' | 'output' | 'callback'>): Promise<void> {
    let entry = batch && {
      createdAt: batch.createdAt,
      tenant: batch.tenant ?? null,
      output: batch.output !== undefined,
      callback: batch.callback !== undefined,
    };
    if (!entry) {
      const [createdAt, tenant, output, callback] = await this.redis.hmget(
        this.keys.batch(id),
        'createdAt',
        'tenant',
        'output',
        'callback',
      );
      if (createdAt === null) return;
      entry = { createdAt: Number(createdAt), tenant, output: output !== null, callback: callback !== null };
    }
    const multi = this.redis.multi();
    // Like an output: a callback can never be forgotten between creation and the batch's end.
    if (entry.callback) multi.sadd(this.keys.pendingCallbacks(), id);
    if (entry.output) multi.sadd(this.keys.pendingOutputs(), id);
    multi.sadd(this.keys.openBacklogs(), id);
    multi.zadd(this.keys.index(), entry.createdAt, id);
    if (entry.tenant) multi.zadd(this.keys.tenantIndex(entry.tenant), entry.createdAt, id);
    await multi.exec();
  }

  /** Records that every item's job is in its queue (jobs use deterministic ids, so re-adding is safe). */
  async markEnqueued(id: string): Promise<void> {
    await this.redis.hset(this.keys.batch(id), 'enqueued', 1);
  }

  async isEnqueued(id: string): Promise<boolean> {
    return (await this.redis.hget(this.keys.batch(id), 'enqueued')) === '1';
  }
}
