import type { RedisClient } from '#libs/redis';
import type { BatchKeys } from './batch-keys.js';
import type { OpenAIBatchRetention } from './openai/openai-retention.js';

/** Batches looked at per page of the index, and item keys deleted per command (one slot: the batch's). */
const PAGE = 200;
const DELETE_CHUNK = 1000;

export interface RetentionPass {
  /** Batches whose records were deleted. */
  trimmed: number;
  /** Their items. */
  items: number;
  /** Index entries whose batch was already gone (a pass cut short by a crash, or deleted by hand). */
  stale: number;
  /** OpenAI batch records (the OpenAI-compatible surface) that went with their Switchyard batch. */
  openaiBatches: number;
}

/**
 * Keeps Redis from filling with old results (issue 17 §2): a batch that finished more than RESULT_TTL ago
 * loses its records — its hash, its items, its event stream and estimates — and leaves the indexes. Only
 * finished batches go (a batch with queued or running items is kept whatever its age), and only once its
 * branch output and callbacks are no longer pending. Run by a sweep (a Job Scheduler on the maintenance
 * queue), so the transition scripts on the hot path are untouched.
 *
 * A pass cut short anywhere is finished by the next one: a batch is first noted as being trimmed (with its
 * tenant, for its tenant's index), then its items, stream, estimates and hash are deleted, then it leaves
 * the indexes, then the note goes. Each pass starts with the batches still noted.
 */
export class BatchRetention {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: BatchKeys,
    /** Deletes the OpenAI batch records whose Switchyard batch is gone, after each pass. */
    private readonly openai?: Pick<OpenAIBatchRetention, 'trim'>,
  ) {}

  /**
   * One pass: batches created at least `ttlMs` ago (a batch finishes after it is created, so none newer can
   * qualify) and finished at least `ttlMs` ago are deleted, at most `maxItems` items' worth per pass (a
   * batch is never left half-deleted by that cap: one batch may take it past).
   */
  async trim(ttlMs: number, now = Date.now(), maxItems = 100_000): Promise<RetentionPass> {
    const pass: RetentionPass = { trimmed: 0, items: 0, stale: 0, openaiBatches: 0 };
    const cutoff = now - ttlMs;
    const unfinished = await this.redis.hgetall(this.keys.retentionTrimming());
    for (const [id, tenant] of Object.entries(unfinished)) {
      pass.trimmed += 1;
      pass.items += await this.remove(id, tenant || null);
    }
    for (let offset = 0; pass.items < maxItems;) {
      const ids = await this.redis.zrangebyscore(this.keys.index(), '-inf', cutoff, 'LIMIT', offset, PAGE);
      if (ids.length === 0) break;
      let removed = 0;
      for (const id of ids) {
        if (pass.items >= maxItems) break;
        const outcome = await this.trimOne(id, cutoff);
        if (outcome === 'kept') continue;
        removed += 1;
        if (outcome === 'stale') pass.stale += 1;
        else {
          pass.trimmed += 1;
          pass.items += outcome.items;
        }
      }
      // Entries removed from this page shift the rest forward: the next page starts after the ones kept.
      offset += ids.length - removed;
      if (ids.length < PAGE) break;
    }
    pass.openaiBatches = (await this.openai?.trim(ttlMs, now)) ?? 0;
    return pass;
  }

  /**
   * Erasure on request (a data subject's right to deletion): deletes one finished batch now, whatever its age,
   * by the same idempotent steps as the sweep (noted, items, stream, estimates, backlog, hash, indexes), and
   * drops it from the pending outputs and callbacks, which would otherwise read it again. A batch with items
   * still queued or running is refused ('unfinished': cancel it first); an unknown one answers null.
   */
  async erase(id: string): Promise<{ items: number; tenant: string | null } | 'unfinished' | null> {
    const [total, finishedAt, tenant, createdAt] = await this.redis.hmget(
      this.keys.batch(id),
      'total',
      'finishedAt',
      'tenant',
      'createdAt',
    );
    if (createdAt === null) return null;
    if (finishedAt === null) return 'unfinished';
    await this.redis.hset(this.keys.retentionTrimming(), id, tenant ?? '');
    await this.redis.multi().srem(this.keys.pendingOutputs(), id).srem(this.keys.pendingCallbacks(), id).exec();
    return { items: await this.remove(id, tenant, Number(total) || 0), tenant: tenant || null };
  }

  private async trimOne(id: string, cutoff: number): Promise<'kept' | 'stale' | { items: number }> {
    const batchKey = this.keys.batch(id);
    const [total, finishedAt, tenant, createdAt] = await this.redis.hmget(
      batchKey,
      'total',
      'finishedAt',
      'tenant',
      'createdAt',
    );
    if (createdAt === null) {
      // No record and no note: deleted by hand; its tenant's index entry cannot be found from here.
      await this.unindex(id, null);
      return 'stale';
    }
    if (finishedAt === null || !(Number(finishedAt) <= cutoff)) return 'kept';
    const [outputPending, callbackPending] = await Promise.all([
      this.redis.sismember(this.keys.pendingOutputs(), id),
      this.redis.sismember(this.keys.pendingCallbacks(), id),
    ]);
    if (outputPending || callbackPending) return 'kept';
    await this.redis.hset(this.keys.retentionTrimming(), id, tenant ?? '');
    return { items: await this.remove(id, tenant, Number(total) || 0) };
  }

  /** Deletes a noted batch's records, then its index entries, then the note. Idempotent. */
  private async remove(id: string, tenant: string | null, knownTotal?: number): Promise<number> {
    const items = knownTotal ?? (Number(await this.redis.hget(this.keys.batch(id), 'total')) || 0);
    for (let from = 0; from < items; from += DELETE_CHUNK) {
      const chunk = Array.from({ length: Math.min(DELETE_CHUNK, items - from) }, (_, k) =>
        this.keys.item(id, from + k),
      );
      await this.redis.del(...chunk);
    }
    await this.redis.del(this.keys.events(id), this.keys.estimates(id), this.keys.batchBacklog(id));
    // The hash last among the records: while it exists, a rerun knows how many items to delete.
    await this.redis.del(this.keys.batch(id));
    await this.unindex(id, tenant);
    await this.redis.hdel(this.keys.retentionTrimming(), id);
    return items;
  }

  private async unindex(id: string, tenant: string | null): Promise<void> {
    const multi = this.redis.multi().zrem(this.keys.index(), id).srem(this.keys.openBacklogs(), id);
    if (tenant) multi.zrem(this.keys.tenantIndex(tenant), id);
    await multi.exec();
  }
}
