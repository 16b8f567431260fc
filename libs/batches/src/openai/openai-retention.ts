import type { RedisClient } from '#libs/redis';
import { rememberPlace } from './list-cursor.js';
import type { OpenAIKeys } from './openai-keys.js';
import type { OpenAIBatchRecord } from './openai-shapes.js';

/** Records looked at per page of the index. */
const PAGE = 200;

/** Deletes an OpenAI batch's record, its invalid lines, its counted file sizes and its index entries. Idempotent. */
export async function forgetOpenAIBatch(
  redis: RedisClient,
  keys: OpenAIKeys,
  rec: Pick<OpenAIBatchRecord, 'id' | 'tenant'> & { createdAt: number | string },
): Promise<void> {
  const indexes = [keys.batchIndex(), ...(rec.tenant ? [keys.batchIndex(rec.tenant)] : [])];
  const multi = redis.multi().del(keys.batch(rec.id), keys.lineErrors(rec.id), keys.fileBytes(rec.id));
  for (const index of indexes) multi.zrem(index, rec.id);
  // A client paging through the list may name this batch as its next `after`.
  rememberPlace(multi, keys, indexes, rec.id, rec.createdAt);
  await multi.exec();
}

/**
 * The results retention for the OpenAI-compatible surface: an OpenAI batch goes with its Switchyard batch. Its
 * record holds no results (they are read from the Switchyard batch), but the file's invalid lines are kept beside it, and
 * without this a record nobody read again stayed for ever — only a read found its Switchyard batch gone.
 *
 * A pass looks at the records created at least RESULT_TTL ago (none newer can qualify: a batch finishes after it
 * is created) and deletes each whose Switchyard batch the batch retention has deleted, and each that never had
 * one (every line invalid: `failed` when it was created). The uploads indexes (the global one and each uploading
 * tenant's) lose their entries of that age whose upload Redis has expired (RESULT_TTL after it was made at the
 * latest).
 */
export class OpenAIBatchRetention {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: OpenAIKeys,
    /** Whether the Switchyard batch still exists (written, or accepted and still validating). */
    private readonly nativeExists: (nativeId: string) => Promise<boolean>,
  ) {}

  /** One pass; returns how many OpenAI batch records it deleted. */
  async trim(ttlMs: number, now = Date.now()): Promise<number> {
    const cutoff = now - ttlMs;
    let forgotten = 0;
    for (let offset = 0; ;) {
      const scored = await this.redis.zrangebyscore(
        this.keys.batchIndex(),
        '-inf',
        cutoff,
        'WITHSCORES',
        'LIMIT',
        offset,
        PAGE,
      );
      const ids = scored.filter((_, i) => i % 2 === 0);
      let removed = 0;
      for (const [i, id] of ids.entries()) {
        const raw = await this.redis.get(this.keys.batch(id));
        const rec = raw ? (JSON.parse(raw) as OpenAIBatchRecord) : null;
        if (rec && rec.nativeId !== null && (await this.nativeExists(rec.nativeId))) continue;
        // No record: an index entry left by hand (its tenant's entry cannot be found from here).
        await forgetOpenAIBatch(this.redis, this.keys, rec ?? { id, tenant: null, createdAt: scored[2 * i + 1] });
        removed += 1;
        if (rec) forgotten += 1;
      }
      // Entries removed from this page shift the rest forward: the next page starts after the ones kept.
      offset += ids.length - removed;
      if (ids.length < PAGE) break;
    }
    await this.trimUploadIndexes(cutoff);
    return forgotten;
  }

  /** Drops the uploads indexes' entries (the global one and each tenant's) of uploads Redis has expired. */
  private async trimUploadIndexes(cutoff: number): Promise<void> {
    await this.trimUploadIndex(this.keys.filesIndex(), cutoff);
    for (const tenant of await this.redis.smembers(this.keys.uploadTenants()))
      await this.trimUploadIndex(this.keys.filesIndex(tenant), cutoff);
  }

  private async trimUploadIndex(index: string, cutoff: number): Promise<void> {
    for (let offset = 0; ;) {
      const scored = await this.redis.zrangebyscore(index, '-inf', cutoff, 'WITHSCORES', 'LIMIT', offset, PAGE);
      const ids = scored.filter((_, i) => i % 2 === 0);
      const gone: number[] = [];
      // One key at a time: on a Cluster each upload lives in its own slot.
      for (const [i, id] of ids.entries()) if (!(await this.redis.exists(this.keys.file(id)))) gone.push(i);
      if (gone.length > 0) {
        const prune = this.redis.multi().zrem(index, ...gone.map((i) => ids[i]));
        for (const i of gone) rememberPlace(prune, this.keys, [index], ids[i], scored[2 * i + 1]);
        await prune.exec();
      }
      offset += ids.length - gone.length;
      if (ids.length < PAGE) break;
    }
  }
}
