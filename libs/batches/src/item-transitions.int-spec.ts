import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { BatchCreation, type NewItem } from './batch-creation.js';
import { BatchKeys } from './batch-keys.js';
import { BatchViews } from './batch-views.js';
import { ItemTransitions } from './item-transitions.js';

const item = (itemId: string): NewItem => ({
  itemId,
  sensitivity: 'internal',
  pii: { declared: 'internal', categories: [], raised: false },
  route: { target: 'local', provider: 'llama', model: 'm', reason: 'test', at: new Date().toISOString() },
  workTokens: 1,
});

describe('ItemTransitions (real Redis)', () => {
  let redis: Redis;
  let creation: BatchCreation;
  let transitions: ItemTransitions;
  let views: BatchViews;
  let keys: BatchKeys;

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    keys = new BatchKeys(`t-${randomUUID().slice(0, 8)}`);
    creation = new BatchCreation(redis, keys);
    transitions = new ItemTransitions(redis, keys);
    views = new BatchViews(redis, keys);
  });
  afterAll(async () => {
    await redis.quit();
  });

  const newBatch = (n: number) =>
    creation.create(
      {
        kind: 'document-processing',
        sensitivity: 'internal',
        deadlineAt: Date.now() + 60_000,
        task: { type: 'summarize' },
        createdAt: Date.now(),
      },
      Array.from({ length: n }, (_, i) => item(`i${i}`)),
    );

  it('says why a move did not apply: no such item, a status not allowed, or routed elsewhere', async () => {
    const { id } = await newBatch(1);
    expect(await transitions.move({ batchId: id, index: 5, from: ['queued'], to: 'running' })).toBe('missing');
    expect(await transitions.move({ batchId: id, index: 0, from: ['running'], to: 'completed' })).toBe('not-allowed');
    expect(
      await transitions.move({ batchId: id, index: 0, provider: 'frontier', from: ['queued'], to: 'running' }),
    ).toBe('elsewhere');
    expect(await transitions.move({ batchId: id, index: 0, provider: 'llama', from: ['queued'], to: 'running' })).toBe(
      'applied',
    );
  });

  it('starts nothing of a batch being cancelled: a queued item, or one run again, is cancelled instead', async () => {
    // BatchCancel flags the batch, then moves its queued items one by one: a worker may reach one before it does.
    const { id } = await newBatch(3);
    const ended: number[] = [];
    const finished: string[] = [];
    transitions.onItemFinished((batchId, index) => batchId === id && ended.push(index));
    transitions.onBatchFinished((batchId) => batchId === id && finished.push(batchId));
    expect(await transitions.move({ batchId: id, index: 0, from: ['queued'], to: 'running' })).toBe('applied');
    await redis.hset(keys.batch(id), 'cancelRequested', '1');

    expect(await transitions.move({ batchId: id, index: 1, from: ['queued', 'running'], to: 'running' })).toBe(
      'cancelled',
    );
    // Item 0 had started before the cancel; its job, run again after a crash, does not start it a second time.
    expect(await transitions.move({ batchId: id, index: 0, from: ['queued', 'running'], to: 'running' })).toBe(
      'cancelled',
    );
    expect(await transitions.move({ batchId: id, index: 2, from: ['queued'], to: 'cancelled' })).toBe('applied');
    const items = await views.items(id, 0, 10);
    expect(items.map((i) => [i.status, i.error])).toEqual([
      ['cancelled', 'cancelled before it started'],
      ['cancelled', 'cancelled before it started'],
      ['cancelled', null],
    ]);
    expect((await views.get(id))!.counts).toMatchObject({ queued: 0, running: 0, cancelled: 3 });
    expect(ended).toEqual([1, 0, 2]);
    expect(finished).toEqual([id]);
    // Other moves of a cancelled batch's items are untouched: a running item's worker still records its end.
    const { id: other } = await newBatch(1);
    await transitions.move({ batchId: other, index: 0, from: ['queued'], to: 'running' });
    await redis.hset(keys.batch(other), 'cancelRequested', '1');
    expect(await transitions.move({ batchId: other, index: 0, from: ['running'], to: 'completed' })).toBe('applied');
  });

  it('tells its listeners a batch finished once, when its last open item ends, and not again on a repeat', async () => {
    const { id } = await newBatch(2);
    const finished: string[] = [];
    transitions.onBatchFinished((batchId) => finished.push(batchId));
    await transitions.move({ batchId: id, index: 0, from: ['queued'], to: 'failed', update: { error: 'boom' } });
    expect(finished).toEqual([]);
    await transitions.move({ batchId: id, index: 1, from: ['queued'], to: 'cancelled' });
    // A job that runs again finds the item already where it was sent: same status, no second signal.
    await transitions.move({ batchId: id, index: 1, from: ['cancelled'], to: 'cancelled' });
    expect(finished).toEqual([id]);
  });

  it('records the time it is given as the start and the end of an item', async () => {
    const { id } = await newBatch(1);
    const at = Date.parse('2030-01-02T03:04:05Z');
    await transitions.move({ batchId: id, index: 0, from: ['queued'], to: 'running', now: at });
    await transitions.move({
      batchId: id,
      index: 0,
      from: ['running'],
      to: 'completed',
      update: { result: 'r' },
      now: at + 1000,
    });
    const view = await views.item(id, 0);
    expect(view?.startedAt).toBe('2030-01-02T03:04:05.000Z');
    expect(view?.finishedAt).toBe('2030-01-02T03:04:06.000Z');
    expect((await views.get(id))?.finishedAt).toBe('2030-01-02T03:04:06.000Z');
  });
});
