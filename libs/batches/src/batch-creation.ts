import { randomUUID } from 'node:crypto';
import { assertOneSlot, defineKeyListScript, type RedisClient } from '#libs/redis';
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

/** How `create` is asked: with an idempotency key (and the body's hash), and with what to write alongside. */
export interface CreateOptions {
  idempotencyKey?: string;
  bodyHash?: string;
  /**
   * A write that needs the batch written by this very call (intake's audit of the routes), sent with the
   * batch's indexing: one round trip, not one after it (issue 17 §1). Not called when the batch was not
   * created here; `create` fails if it does.
   */
  whenWritten?: (id: string) => Promise<void>;
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
 * A batch's share of the providers' backlogs: its items' work summed per provider, as the creation script writes
 * it (BatchKeys.batchBacklog) and as routing counts a batch this process just created.
 */
export function backlogShare(items: readonly NewItem[]): Map<string, number> {
  const share = new Map<string, number>();
  for (const item of items) {
    const field = providerKey(item.route.target, item.route.provider);
    share.set(field, (share.get(field) ?? 0) + item.workTokens);
  }
  return share;
}

/** Items per call of the creation script (and per ZADD of their estimates): about 23,000 arguments a call. */
const CREATION_CHUNK = 1000;

/** The transaction with the creation script on it: ioredis adds a defined script to every pipeline as a command. */
type ScriptCalls = ReturnType<RedisClient['multi']> &
  Record<string, (...countKeysArgs: Array<string | number>) => unknown>;

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
   * Claims an idempotency key for `id` (step 1 alone, for a batch accepted before its items exist): null when
   * claimed, otherwise what the key names already, written or not.
   */
  async claim(key: string, id: string, bodyHash: string): Promise<IdempotentBatch | null> {
    return (await this.setIdempotencyKey(key, id, bodyHash)) ? null : await this.findByIdempotencyKey(key);
  }

  /** Names `id` (and the body's hash) under the key for a week, unless the key names a batch already. */
  private async setIdempotencyKey(key: string, id: string, bodyHash: string | undefined): Promise<boolean> {
    const value = bodyHash === undefined ? id : `${id} ${bodyHash}`;
    return (await this.redis.set(this.keys.idempotency(key), value, 'EX', 7 * 86_400, 'NX')) === 'OK';
  }

  /** Drops an idempotency key (one the API made for itself, once its batch exists). */
  async release(key: string): Promise<void> {
    await this.redis.del(this.keys.idempotency(key));
  }

  /**
   * Writes a batch and its items (steps above). With an idempotency key, a second call with the same key
   * returns the first batch's id and body hash instead of creating another (`created: false`).
   */
  async create(
    batch: NewBatch,
    items: NewItem[],
    { idempotencyKey, bodyHash, whenWritten }: CreateOptions = {},
  ): Promise<CreatedBatch> {
    let id: string = randomUUID();
    let claimed = false;
    if (idempotencyKey) {
      claimed = await this.setIdempotencyKey(idempotencyKey, id, bodyHash);
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
    // The estimates (the batch's slot), step 3 (the global slot) and the caller's write at once: one round
    // trip, not three (issue 17).
    await Promise.all([
      written === 1 && this.writeEstimates(id, items),
      this.index(id, batch),
      written === 1 && whenWritten?.(id),
    ]);
    return written === 1 ? { id, created: true } : { id, created: false, bodyHash: bodyHash ?? null };
  }

  /**
   * The routing estimate of each open item (estimatedFinishAt), in the batch's slot: an estimate a crash
   * right here loses only leaves the batch's estimate null, it changes no item.
   */
  private async writeEstimates(id: string, items: NewItem[]): Promise<void> {
    // In chunks, pipelined: one ZADD of every item was one function call with 2 arguments per item.
    const writes: Array<Promise<unknown>> = [];
    for (let from = 0; from < items.length; from += CREATION_CHUNK) {
      const estimates: number[] = [];
      for (let index = from; index < Math.min(items.length, from + CREATION_CHUNK); index++) {
        const at = items[index].estimatedFinishAt;
        if (at !== undefined) estimates.push(at, index);
      }
      if (estimates.length > 0) writes.push(this.redis.zadd(this.keys.estimates(id), ...estimates));
    }
    await Promise.all(writes);
  }

  /**
   * Step 2: the batch's own records, in its slot, unless it exists. The items go in chunks of
   * CREATION_CHUNK, each a call of the creation script that writes nothing once the batch hash exists, and the
   * batch hash and backlog last, all in one MULTI: Redis runs the transaction as one step, so either the batch
   * existed before it and nothing is written, or all of it is, as with one call. One call for a 100,000-item
   * batch took its keys and 2.2 million strings as the arguments of one function call: more than the stack
   * holds (issue 17 §2: it failed from about 10,000 items).
   */
  private async write(id: string, batch: NewBatch, items: NewItem[]): Promise<0 | 1> {
    const routes = { local: 0, cloud: 0 };
    const multi = this.redis.multi() as unknown as ScriptCalls;
    const batchKey = this.keys.batch(id);
    for (let from = 0; from < items.length; from += CREATION_CHUNK) {
      const keys = [batchKey];
      // The batch hash is named first, with no fields: each chunk checks that it does not exist yet.
      const hashes: string[][] = [[]];
      for (let index = from; index < Math.min(items.length, from + CREATION_CHUNK); index++) {
        const item = items[index];
        routes[item.route.target] += 1;
        const backlogField = providerKey(item.route.target, item.route.provider);
        keys.push(this.keys.item(id, index));
        hashes.push(
          pairs({
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
          }),
        );
      }
      this.queueCreate(multi, keys, createBatchArgs(hashes));
    }
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
    // Last: once the batch hash exists, the chunks above would write nothing (so a repeated call is harmless).
    this.queueCreate(
      multi,
      [batchKey, this.keys.batchBacklog(id)],
      createBatchArgs([batchFields, pairs(Object.fromEntries(backlogShare(items)))]),
    );
    const replies = await multi.exec();
    if (!replies) throw new Error(`batch ${id}: the creation transaction was aborted`);
    const failed = replies.find(([err]) => err);
    if (failed) throw failed[0];
    return replies.at(-1)![1] as 0 | 1;
  }

  /** One call of the creation script on the transaction, its keys in one slot (checked as a direct call checks them). */
  private queueCreate(multi: ScriptCalls, keys: string[], args: string[]): void {
    assertOneSlot(`script ${CREATE_BATCH.name}`, keys);
    multi[CREATE_BATCH.name](keys.length, ...keys, ...args);
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
