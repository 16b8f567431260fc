import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { BatchKeys } from './batch-keys.js';
import { BatchStore, type NewItem } from './batch-store.js';

const item = (itemId: string, estimatedFinishAt: number): NewItem => ({
  itemId,
  sensitivity: 'internal',
  pii: { declared: 'internal', categories: [], raised: false },
  route: { target: 'local', provider: 'llama', model: 'm', reason: 'test', at: new Date(0).toISOString() },
  workTokens: 1,
  estimatedFinishAt,
});

/** The per-batch event stream and open estimates the transition scripts keep (issue 15 §5). */
describe('batch events and estimates (real Redis)', () => {
  let redis: Redis;
  let reader: Redis;
  let store: BatchStore;
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const keys = new BatchKeys(prefix);
  const now = Date.parse('2026-12-03T09:00:00Z');

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    reader = redis.duplicate();
    store = new BatchStore(redis, prefix);
  });
  afterAll(async () => {
    await Promise.all([redis.quit(), reader.quit()]);
  });

  const create = () =>
    store.create(
      {
        kind: 'document-processing',
        sensitivity: 'internal',
        deadlineAt: now + 3_600_000,
        task: { type: 'summarize' },
        createdAt: now,
      },
      [item('a', now + 60_000), item('b', now + 120_000)],
    );

  it('streams each transition and reroute in order, then the end, and expires the stream after it', async () => {
    const { id } = await create();
    await store.transition(id, 0, ['queued'], 'running', {}, now + 1000);
    await store.reroute({
      batchId: id,
      index: 0,
      fromProvider: 'llama',
      route: {
        target: 'cloud',
        provider: 'frontier',
        model: 'x',
        reason: 'escalated',
        at: new Date(now).toISOString(),
      },
      note: 'moved',
    });
    await store.transition(id, 0, ['queued'], 'running', {}, now + 2000);
    await store.transition(id, 0, ['running'], 'completed', {}, now + 3000);
    await store.transition(id, 1, ['queued'], 'failed', {}, now + 4000);

    const events = await store.events.read(reader, id, '0-0', null);
    expect(events.map(({ id: _id, ...e }) => e)).toEqual([
      {
        type: 'item',
        index: 0,
        from: 'queued',
        to: 'running',
        target: 'local',
        provider: 'llama',
        at: iso(now + 1000),
      },
      {
        type: 'reroute',
        index: 0,
        from: 'running',
        to: 'queued',
        target: 'cloud',
        provider: 'frontier',
        reason: 'escalated',
        at: iso(now),
      },
      {
        type: 'item',
        index: 0,
        from: 'queued',
        to: 'running',
        target: 'cloud',
        provider: 'frontier',
        at: iso(now + 2000),
      },
      {
        type: 'item',
        index: 0,
        from: 'running',
        to: 'completed',
        target: 'cloud',
        provider: 'frontier',
        at: iso(now + 3000),
      },
      { type: 'item', index: 1, from: 'queued', to: 'failed', target: 'local', provider: 'llama', at: iso(now + 4000) },
      { type: 'finished', at: iso(now + 4000) },
    ]);
    // Resuming after an entry gives only what came after it.
    expect((await store.events.read(reader, id, events[3].id, null)).map((e) => e.id)).toEqual(
      events.slice(4).map((e) => e.id),
    );
    expect(await redis.ttl(keys.events(id))).toBeGreaterThan(0);
  });

  it('estimates the batch finish as the latest open item, dropping items as they finish, null at the end', async () => {
    const { id } = await create();
    expect((await store.get(id))?.estimatedFinishAt).toBe(iso(now + 120_000));
    await store.transition(id, 1, ['queued'], 'cancelled');
    expect((await store.get(id))?.estimatedFinishAt).toBe(iso(now + 60_000));
    expect((await store.list(50)).find((b) => b.id === id)?.estimatedFinishAt).toBe(iso(now + 60_000));
    await store.transition(id, 0, ['queued'], 'completed');
    expect((await store.get(id))?.estimatedFinishAt).toBeNull();
  });
});

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
