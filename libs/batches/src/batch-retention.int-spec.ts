import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { BatchKeys } from './batch-keys.js';
import { BatchStore, type NewItem } from './batch-store.js';
import { OpenAIKeys } from './openai/openai-keys.js';

const DAY = 86_400_000;
const meta = {
  sensitivity: 'internal' as const,
  pii: { declared: 'internal' as const, categories: [], raised: false },
};
const item = (id: string): NewItem => ({
  ...meta,
  itemId: id,
  route: { target: 'local', provider: 'llama', model: 'm', reason: 'test', at: new Date().toISOString() },
  workTokens: 10,
});

/** Issue 17 §2: RESULT_TTL deletes what finished long ago, and nothing else. */
describe('BatchRetention (real Redis)', () => {
  let redis: Redis;
  let store: BatchStore;
  let keys: BatchKeys;
  const prefix = `t-${randomUUID().slice(0, 8)}`;

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    store = new BatchStore(redis, prefix);
    keys = new BatchKeys(prefix);
  });
  afterAll(async () => {
    await redis.quit();
  });

  /** A batch of `n` items created at `createdAt`, finished at `finishedAt` (each item completed then), or left open. */
  async function batch(n: number, createdAt: number, finishedAt: number | null, tenant?: string): Promise<string> {
    const { id } = await store.create(
      {
        kind: 'document-processing',
        sensitivity: 'internal',
        deadlineAt: createdAt + DAY,
        task: { type: 'summarize' },
        createdAt,
        ...(tenant ? { tenant } : {}),
      },
      Array.from({ length: n }, (_, i) => item(`doc-${i}`)),
    );
    if (finishedAt !== null)
      for (let i = 0; i < n; i++) {
        await store.transition(id, i, ['queued'], 'running', {}, finishedAt - 1);
        await store.transition(id, i, ['running'], 'completed', { result: 'r', outputTokens: 1 }, finishedAt);
      }
    return id;
  }

  /** Every key of the batch's slot that is still in Redis. */
  const keysOf = async (id: string) => (await redis.keys(`${prefix}:*{${id}}*`)).sort();

  it('deletes a batch finished longer ago than the TTL, with its items, stream and index entries', async () => {
    const now = Date.now();
    const old = await batch(3, now - 40 * DAY, now - 39 * DAY, 'acme');
    expect((await keysOf(old)).length).toBeGreaterThanOrEqual(4); // hash, 3 items, event stream
    const pass = await store.retention.trim(30 * DAY, now);
    expect(pass).toMatchObject({ trimmed: 1, items: 3 });
    expect(await keysOf(old)).toEqual([]);
    expect(await store.get(old)).toBeNull();
    expect(await redis.zscore(keys.index(), old)).toBeNull();
    expect(await redis.zscore(keys.tenantIndex('acme'), old)).toBeNull();
    expect(await redis.hlen(keys.retentionTrimming())).toBe(0);
  });

  it('keeps a batch still open however old, one finished within the TTL, and one whose callback is pending', async () => {
    const now = Date.now();
    const open = await batch(2, now - 90 * DAY, null);
    const recent = await batch(1, now - 40 * DAY, now - 10 * DAY);
    const owed = await batch(1, now - 40 * DAY, now - 39 * DAY);
    await redis.sadd(keys.pendingCallbacks(), owed);
    await store.retention.trim(30 * DAY, now);
    for (const id of [open, recent, owed]) expect(await store.get(id)).not.toBeNull();
    expect(await store.items(open, 0, 10)).toHaveLength(2);
    await redis.srem(keys.pendingCallbacks(), owed);
    expect((await store.retention.trim(30 * DAY, now)).trimmed).toBe(1);
    expect(await store.get(owed)).toBeNull();
    expect(await store.get(open)).not.toBeNull();
  });

  it('finishes a pass a crash cut short: a noted batch goes, index entry and tenant index included', async () => {
    const now = Date.now();
    const id = await batch(2, now - 40 * DAY, now - 39 * DAY, 'globex');
    // As if a worker died right after noting it and deleting one item.
    await redis.hset(keys.retentionTrimming(), id, 'globex');
    await redis.del(keys.item(id, 0));
    const pass = await store.retention.trim(30 * DAY, now);
    expect(pass.trimmed).toBe(1);
    expect(await keysOf(id)).toEqual([]);
    expect(await redis.zscore(keys.tenantIndex('globex'), id)).toBeNull();
    expect(await redis.hexists(keys.retentionTrimming(), id)).toBe(0);
  });

  it('walks past many kept batches to reach the ones to delete, and stops at its item cap', async () => {
    const now = Date.now();
    for (let i = 0; i < 250; i++) await batch(1, now - 60 * DAY + i, null); // open, oldest: kept
    const a = await batch(5, now - 50 * DAY, now - 49 * DAY);
    const b = await batch(5, now - 50 * DAY + 1, now - 49 * DAY);
    const first = await store.retention.trim(30 * DAY, now, 5);
    expect(first).toMatchObject({ trimmed: 1, items: 5 });
    const second = await store.retention.trim(30 * DAY, now, 5);
    expect(second).toMatchObject({ trimmed: 1, items: 5 });
    expect(await store.get(a)).toBeNull();
    expect(await store.get(b)).toBeNull();
  });

  it('deletes an OpenAI batch record with its Switchyard batch, not while that batch is written or still validating', async () => {
    const oai = new OpenAIKeys(prefix);
    const old = Date.now() - 3 * DAY;
    const record = async (id: string, nativeId: string | null) => {
      const rec = { id, nativeId, tenant: 'acme', createdAt: old, invalidLines: 1 };
      const lineError = { line: 2, customId: 'bad', code: 'invalid_request', message: 'x', param: 'body' };
      await redis
        .multi()
        .set(oai.batch(id), JSON.stringify(rec))
        .rpush(oai.lineErrors(id), JSON.stringify(lineError))
        .zadd(oai.batchIndex(), old, id)
        .zadd(oai.batchIndex('acme'), old, id)
        .exec();
    };
    const written = await batch(1, old, null);
    const validating = randomUUID();
    await redis.hset(keys.intake(validating), 'status', 'validating');
    const gone = randomUUID();
    await record('batch_written', written);
    await record('batch_validating', validating);
    await record('batch_gone', gone);
    await record('batch_failed', null);
    const pass = await store.retention.trim(DAY);
    expect(pass.openaiBatches).toBe(2);
    const left = await redis.zrange(oai.batchIndex(), 0, -1);
    expect(left.sort()).toEqual(['batch_validating', 'batch_written']);
    expect(await redis.zrange(oai.batchIndex('acme'), 0, -1)).toEqual(expect.arrayContaining(left));
    expect(await redis.exists(oai.batch('batch_gone'), oai.batch('batch_failed'))).toBe(0);
    // Its invalid lines, kept beside the record, go with it.
    expect(await redis.exists(oai.lineErrors('batch_gone'), oai.lineErrors('batch_failed'))).toBe(0);
    expect(await redis.exists(oai.lineErrors('batch_written'), oai.lineErrors('batch_validating'))).toBe(2);
    // Once its intake record is gone with no batch written (it failed and expired), the record goes too.
    await redis.del(keys.intake(validating));
    expect((await store.retention.trim(DAY)).openaiBatches).toBe(1);
    expect(await redis.zrange(oai.batchIndex(), 0, -1)).toEqual(['batch_written']);
  });
});
