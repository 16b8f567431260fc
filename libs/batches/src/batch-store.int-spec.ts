import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { BatchKeys } from './batch-keys.js';
import { cursorAfter, parseListCursor } from './batch-list-cursor.js';
import { BatchStore, type NewItem } from './batch-store.js';

const meta = {
  sensitivity: 'internal' as const,
  pii: { declared: 'internal' as const, categories: [], raised: false },
};
const route = (target: 'local' | 'cloud'): NewItem['route'] => ({
  target,
  provider: target === 'local' ? 'llama' : 'frontier',
  model: 'm',
  reason: 'test',
  at: new Date().toISOString(),
});

describe('BatchStore (real Redis)', () => {
  let redis: Redis;
  let store: BatchStore;
  const prefix = `t-${randomUUID().slice(0, 8)}`;

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    store = new BatchStore(redis, prefix);
  });
  afterAll(async () => {
    await redis.quit();
  });

  const newBatch = (items: NewItem[], key?: string, bodyHash?: string, whenWritten?: (id: string) => Promise<void>) =>
    store.create(
      {
        kind: 'document-processing',
        sensitivity: 'internal',
        deadlineAt: Date.now() + 60_000,
        task: { type: 'summarize' },
        createdAt: Date.now(),
      },
      items,
      { idempotencyKey: key, bodyHash, whenWritten },
    );

  // Issue 17 §1: every item of a batch read its task again, a command per item.
  it('reads a batch’s task from Redis once, and an unknown batch’s every time', async () => {
    const { id } = await newBatch([{ ...meta, itemId: 'a', route: route('cloud'), workTokens: 1 }]);
    const keys = new BatchKeys(prefix);
    const reads = jest.spyOn(redis, 'hget');
    try {
      expect(await store.task(id)).toEqual({ type: 'summarize' });
      expect(await store.task(id)).toEqual({ type: 'summarize' });
      expect(reads.mock.calls.filter(([key, field]) => key === keys.batch(id) && field === 'task')).toHaveLength(1);
      const unknown = randomUUID();
      expect(await store.task(unknown)).toBeNull();
      expect(await store.task(unknown)).toBeNull();
      expect(reads.mock.calls.filter(([key]) => key === keys.batch(unknown))).toHaveLength(2);
    } finally {
      reads.mockRestore();
    }
  });

  // Issue 13 §4: a record from before deadlines were bounded (P300000Y) made every read a RangeError (500).
  it('reads a batch whose stored deadline is outside the calendar, showing it as null', async () => {
    const { id } = await store.create(
      {
        kind: 'document-processing',
        sensitivity: 'internal',
        deadlineAt: 1e20,
        task: { type: 'summarize' },
        createdAt: Date.now(),
      },
      [{ ...meta, itemId: 'a', route: route('local'), workTokens: 1 }],
    );
    expect((await store.get(id))?.deadline).toBeNull();
    expect((await store.list(10)).find((b) => b.id === id)?.deadline).toBeNull();
    expect(await store.items(id, 0, 10)).toHaveLength(1);
  });

  // The chaos fuzz sent an item id holding a lone surrogate: JSON.stringify escapes it as \udXXX, which Lua's
  // cjson refused (a 500). The creation script takes plain strings; Redis stores what ioredis encodes (U+FFFD).
  it('creates a batch whose item id and task hold a lone surrogate', async () => {
    const odd = 'memo-\ud800-\udfff';
    const { id } = await store.create(
      {
        kind: 'document-processing',
        sensitivity: 'internal',
        deadlineAt: Date.now() + 60_000,
        task: { type: 'classify', labels: [odd, 'b'] },
        createdAt: Date.now(),
      },
      [{ ...meta, itemId: odd, route: route('local'), workTokens: 1 }],
    );
    const [item] = await store.items(id, 0, 10);
    expect(item.id).toBe('memo-\ufffd-\ufffd');
    expect((await store.get(id))?.counts.total).toBe(1);
  });

  it('completes an item exactly once even when two runs race to finish it', async () => {
    const { id } = await newBatch([{ ...meta, itemId: 'a', route: route('local'), workTokens: 50 }]);
    expect(await store.backlog('local', 'llama')).toBeGreaterThanOrEqual(50);
    await store.transition(id, 0, ['queued', 'running'], 'running');
    await store.transition(id, 0, ['queued', 'running'], 'running'); // a second run after a "crash"
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () =>
        store.transition(id, 0, ['running'], 'completed', {
          result: 'r',
          inputTokens: 10,
          outputTokens: 5,
          costUsd: 0.001,
        }),
      ),
    );
    expect(outcomes.filter(Boolean)).toHaveLength(1);
    const batch = await store.get(id);
    expect(batch?.counts).toEqual({ total: 1, queued: 0, running: 0, completed: 1, failed: 0, cancelled: 0 });
    expect(batch?.usage).toEqual({ inputTokens: 10, outputTokens: 5 });
    expect(batch?.cost.usd).toBeCloseTo(0.001, 9);
    expect(batch?.status).toBe('completed');
    expect(batch?.finishedAt).not.toBeNull();
    const [item] = await store.items(id, 0, 10);
    expect(item.attempts).toBe(2);
    expect(item.result).toBe('r');
  });

  it("remembers where an item failed for good, counts its moves after failures, and clears a completed item's error", async () => {
    const { id } = await newBatch([{ ...meta, itemId: 'a', route: route('cloud'), workTokens: 1 }]);
    await store.transition(id, 0, ['queued'], 'running');
    const why = 'frontier refused it: HTTP 400 (invalid_request_error)';
    const left = { target: 'cloud' as const, provider: 'frontier', why, ruleOut: true };
    expect(
      await store.reroute({
        batchId: id,
        index: 0,
        fromProvider: 'frontier',
        route: route('local'),
        note: why,
        statuses: ['running'],
        left,
      }),
    ).toBe(2);
    let [item] = await store.items(id, 0, 10);
    expect(item.ruledOut).toEqual([{ target: 'cloud', provider: 'frontier', reason: why }]);
    expect(item.failedMoves).toBe(1);
    expect(item.error).toBe(why);
    // A move that is not after a failure (a circuit, a budget, the watchdog) is not counted.
    await store.transition(id, 0, ['queued'], 'running');
    expect(
      await store.reroute({
        batchId: id,
        index: 0,
        fromProvider: 'llama',
        route: route('cloud'),
        note: 'escalated',
        statuses: ['running'],
      }),
    ).toBe(3);
    await store.transition(id, 0, ['queued'], 'running');
    expect(await store.transition(id, 0, ['running'], 'completed', { result: 'r' })).toBe(true);
    [item] = await store.items(id, 0, 10);
    expect(item.failedMoves).toBe(1);
    // `error` is for items that failed: the history keeps the earlier failure.
    expect(item.error).toBeNull();
    expect(item.routeHistory).toHaveLength(3);
  });

  it('cancels only items that have not started', async () => {
    const { id } = await newBatch([
      { ...meta, itemId: 'a', route: route('local'), workTokens: 1 },
      { ...meta, itemId: 'b', route: route('cloud'), workTokens: 1 },
      { ...meta, itemId: 'c', route: route('local'), workTokens: 1 },
    ]);
    await store.transition(id, 1, ['queued'], 'running');
    expect(await store.cancel(id)).toEqual([0, 2]);
    expect(await store.isCancelRequested(id)).toBe(true);
    expect(await store.transition(id, 0, ['queued', 'running'], 'running')).toBe(false);
    const batch = await store.get(id);
    expect(batch?.counts).toMatchObject({ cancelled: 2, running: 1 });
    expect(batch?.status).toBe('running');
    expect(batch?.routes).toEqual({ local: 2, cloud: 1 });
  });

  it('leaves nothing behind when cancelling a batch that is gone (deleted by the retention meanwhile)', async () => {
    expect(await store.cancel('no-such-batch')).toEqual([]);
    expect(await store.exists('no-such-batch')).toBe(false);
    expect(await store.isCancelRequested('no-such-batch')).toBe(false);
  });

  it('records that a queued item was deferred, and not of one that has started', async () => {
    const { id } = await newBatch([
      { ...meta, itemId: 'a', route: route('local'), workTokens: 1 },
      { ...meta, itemId: 'b', route: route('local'), workTokens: 1 },
    ]);
    expect((await store.item(id, 0))?.deferredAt).toBeNull();
    const at = Date.UTC(2026, 11, 6, 12, 0, 0);
    expect(await store.markDeferred(id, 0, at)).toBe(true);
    expect((await store.item(id, 0))?.deferredAt).toBe('2026-12-06T12:00:00.000Z');
    await store.transition(id, 1, ['queued'], 'running');
    expect(await store.markDeferred(id, 1, at)).toBe(false);
    expect((await store.item(id, 1))?.deferredAt).toBeNull();
    expect(await store.markDeferred(randomUUID(), 0, at)).toBe(false);
  });

  it("records that an item's usage holds an estimate, whatever its status, and nothing for an item gone", async () => {
    const { id } = await newBatch([{ ...meta, itemId: 'a', route: route('cloud'), workTokens: 1 }]);
    expect((await store.item(id, 0))?.usageEstimated).toBe(false);
    await store.transition(id, 0, ['queued'], 'running');
    expect(await store.markUsageEstimated(id, 0)).toBe(true);
    await store.transition(id, 0, ['running'], 'completed', {
      result: 'r',
      inputTokens: 9,
      outputTokens: 3,
      costUsd: 1,
    });
    expect(await store.item(id, 0)).toMatchObject({ status: 'completed', usageEstimated: true });
    expect(await store.markUsageEstimated(randomUUID(), 0)).toBe(false);
  });

  it('returns the first batch for a repeated idempotency key', async () => {
    const key = randomUUID();
    const first = await newBatch([{ ...meta, itemId: 'a', route: route('local'), workTokens: 1 }], key);
    const second = await newBatch([{ ...meta, itemId: 'a', route: route('local'), workTokens: 1 }], key);
    expect(first.created).toBe(true);
    expect(second).toEqual({ id: first.id, created: false, bodyHash: null });
  });

  it('runs the write asked alongside once, for the call that wrote the batch, after its records exist', async () => {
    const key = randomUUID();
    const item = { ...meta, itemId: 'a', route: route('local'), workTokens: 1 };
    const written: Array<{ id: string; existed: boolean }> = [];
    const whenWritten = async (id: string) => void written.push({ id, existed: await store.exists(id) });
    const first = await newBatch([item], key, 'h', whenWritten);
    const again = await newBatch([item], key, 'h', whenWritten);
    expect(again).toEqual({ id: first.id, created: false, bodyHash: 'h' });
    expect(written).toEqual([{ id: first.id, existed: true }]);
  });

  it('keeps the hash of the body that created a batch with its idempotency key', async () => {
    const key = randomUUID();
    const item = { ...meta, itemId: 'a', route: route('local'), workTokens: 1 };
    const at = {
      kind: 'document-processing' as const,
      sensitivity: 'internal' as const,
      deadlineAt: Date.now() + 60_000,
      task: { type: 'summarize' as const },
      createdAt: Date.now(),
    };
    const first = await store.create(at, [item], { idempotencyKey: key, bodyHash: 'hash-a' });
    expect(await store.create(at, [item], { idempotencyKey: key, bodyHash: 'hash-b' })).toEqual({
      id: first.id,
      created: false,
      bodyHash: 'hash-a',
    });
    expect(await store.findByIdempotencyKey(key)).toEqual({ id: first.id, bodyHash: 'hash-a' });
  });

  it('releases the backlog an item added once it finishes', async () => {
    const before = await store.backlog('cloud', 'frontier');
    const { id } = await newBatch([{ ...meta, itemId: 'a', route: route('cloud'), workTokens: 123 }]);
    expect(await store.backlog('cloud', 'frontier')).toBeCloseTo(before + 123, 6);
    await store.transition(id, 0, ['queued'], 'running');
    await store.transition(id, 0, ['running'], 'failed', { error: 'boom', errorCode: 'timeout' });
    expect(await store.backlog('cloud', 'frontier')).toBeCloseTo(before, 6);
    expect((await store.get(id))?.status).toBe('failed');
    expect(await store.item(id, 0)).toMatchObject({ status: 'failed', error: 'boom', errorCode: 'timeout' });
  });

  it("sums every open batch's share per provider in one read, as routing asks for them all", async () => {
    const [cloudBefore, localBefore] = [
      await store.backlog('cloud', 'frontier'),
      await store.backlog('local', 'llama'),
    ];
    await newBatch([{ ...meta, itemId: 'a', route: route('cloud'), workTokens: 7 }]);
    await newBatch([
      { ...meta, itemId: 'a', route: route('cloud'), workTokens: 5 },
      { ...meta, itemId: 'b', route: route('local'), workTokens: 11 },
    ]);
    const backlog = await store.allBacklogs();
    expect(backlog('cloud', 'frontier')).toBeCloseTo(cloudBefore + 12, 6);
    expect(backlog('local', 'llama')).toBeCloseTo(localBefore + 11, 6);
    expect(backlog('cloud', 'nobody')).toBe(0);
  });

  // Issue 17 §2: a routing call read every open batch's share; it now reads them at most once per max age.
  it('gives routing calls one shared read of the shares, its own new batches added at once and never twice', async () => {
    const own = new Redis(process.env.REDIS_URL!);
    try {
      const routing = new BatchStore(own, `t-${randomUUID().slice(0, 8)}`);
      const create = (work: number) =>
        routing.create(
          {
            kind: 'document-processing',
            sensitivity: 'internal',
            deadlineAt: Date.now() + 60_000,
            task: { type: 'summarize' },
            createdAt: Date.now(),
          },
          [{ ...meta, itemId: 'a', route: route('cloud'), workTokens: work }],
        );
      const shareReads = jest.spyOn(own, 'hgetall');
      const reads = () => shareReads.mock.calls.filter(([key]) => String(key).includes(':sy:backlog:{')).length;
      for (let i = 0; i < 10; i += 1) await create(1);

      // Calls at once share one read of the 10 shares; later calls within the max age read none.
      const backlogs = await Promise.all(Array.from({ length: 5 }, () => routing.routingBacklogs()));
      expect(reads()).toBe(10);
      expect(backlogs.map((b) => b('cloud', 'frontier'))).toEqual([10, 10, 10, 10, 10]);
      shareReads.mockClear();
      for (let i = 0; i < 10; i += 1) await create(1);
      expect((await routing.routingBacklogs())('cloud', 'frontier')).toBeCloseTo(20, 6);
      expect(reads()).toBe(0);

      // A fresh read finds those batches' shares: they are not counted twice.
      expect((await routing.backlogs.routing(0))('cloud', 'frontier')).toBeCloseTo(20, 6);
      expect(reads()).toBe(20);

      // A batch created while a read is under way counts once, whether the read listed it or not.
      await Promise.all([routing.backlogs.routing(0), create(5)]);
      expect((await routing.routingBacklogs())('cloud', 'frontier')).toBeCloseTo(25, 6);
      expect((await routing.backlogs.routing(0))('cloud', 'frontier')).toBeCloseTo(25, 6);

      // What another process changes is seen once the read is older than the max age; the exact read at once.
      const [{ id }] = await routing.list(1); // the newest: the batch of 5
      await routing.transition(id, 0, ['queued'], 'running');
      await routing.transition(id, 0, ['running'], 'failed', { error: 'boom' });
      expect(await routing.backlog('cloud', 'frontier')).toBeCloseTo(20, 6);
      expect((await routing.routingBacklogs())('cloud', 'frontier')).toBeCloseTo(25, 6);
      expect((await routing.backlogs.routing(0))('cloud', 'frontier')).toBeCloseTo(20, 6);
    } finally {
      await own.quit();
    }
  });

  it('counts an item this process rerouted where it went at once, not at the next read, and never twice', async () => {
    const own = new Redis(process.env.REDIS_URL!);
    try {
      const routing = new BatchStore(own, `t-${randomUUID().slice(0, 8)}`);
      const { id } = await routing.create(
        {
          kind: 'document-processing',
          sensitivity: 'internal',
          deadlineAt: Date.now() + 60_000,
          task: { type: 'summarize' },
          createdAt: Date.now(),
        },
        [0, 1, 2].map((i) => ({ ...meta, itemId: `i${i}`, route: route('cloud'), workTokens: 10 })),
      );
      const held = await routing.routingBacklogs();
      expect(held('cloud', 'frontier')).toBeCloseTo(30, 6);
      // A burst of reroutes off the provider (its outage turning items away): each routing call after one
      // sees it, within the held read's age.
      for (const index of [0, 1]) {
        await routing.transition(id, index, ['queued'], 'running');
        await routing.reroute({ batchId: id, index, fromProvider: 'frontier', route: route('local'), note: 'down' });
        const now = await routing.routingBacklogs();
        expect(now('cloud', 'frontier')).toBeCloseTo(30 - 10 * (index + 1), 6);
        expect(now('local', 'llama')).toBeCloseTo(10 * (index + 1), 6);
      }
      // A fresh read finds the moves in the shares: not counted again.
      const fresh = await routing.backlogs.routing(0);
      expect(fresh('cloud', 'frontier')).toBeCloseTo(10, 6);
      expect(fresh('local', 'llama')).toBeCloseTo(20, 6);
      expect((await routing.routingBacklogs())('local', 'llama')).toBeCloseTo(20, 6);
    } finally {
      await own.quit();
    }
  });

  it('reroutes a running item to another provider, keeping its route history and the batch counts', async () => {
    const { id } = await newBatch([{ ...meta, itemId: 'a', route: route('cloud'), workTokens: 40 }]);
    await store.transition(id, 0, ['queued'], 'running');
    const localBefore = await store.backlog('local', 'llama');
    expect(
      await store.reroute({
        batchId: id,
        index: 0,
        fromProvider: 'frontier',
        route: { ...route('local'), reason: 'fallback' },
        note: 'cloud down',
      }),
    ).toBe(2);
    expect(
      await store.reroute({
        batchId: id,
        index: 0,
        fromProvider: 'frontier',
        route: route('local'),
        note: 'again',
        statuses: ['queued'],
      }),
    ).toBe(0); // no longer on frontier
    // A job left on the old provider's queue can no longer start the item.
    expect(
      await store.transitionOn({ batchId: id, index: 0, provider: 'frontier', from: ['queued'], to: 'running' }),
    ).toBe('elsewhere');
    expect(
      await store.transitionOn({ batchId: id, index: 0, provider: 'llama', from: ['queued'], to: 'running' }),
    ).toBe('applied');
    const [item] = await store.items(id, 0, 1);
    expect(item.status).toBe('running');
    expect(item.routeHistory.map((r) => r.target)).toEqual(['cloud', 'local']);
    expect(item.route?.reason).toBe('fallback');
    const batch = await store.get(id);
    expect(batch?.routes).toEqual({ local: 1, cloud: 0 });
    expect(batch?.counts).toMatchObject({ queued: 0, running: 1 });
    expect(await store.backlog('local', 'llama')).toBeCloseTo(localBefore + 40, 6);
  });

  it('charges an item for the calls it made before a reroute, wherever it finishes, and only once', async () => {
    const { id } = await newBatch([{ ...meta, itemId: 'a', route: route('cloud'), workTokens: 40 }]);
    await store.transition(id, 0, ['queued'], 'running');
    // Two calls of a long item went through on frontier before its circuit opened.
    expect(
      await store.reroute({
        batchId: id,
        index: 0,
        fromProvider: 'frontier',
        route: route('local'),
        note: 'circuit open',
        statuses: ['running'],
        spent: { inputTokens: 300, outputTokens: 80, costUsd: 0.0002 },
      }),
    ).toBe(2);
    await store.transition(id, 0, ['queued'], 'running');
    await store.transition(id, 0, ['running'], 'completed', {
      result: 'ok',
      inputTokens: 500,
      outputTokens: 120,
      costUsd: 0.00001,
    });
    // A job that runs again after a crash finds it finished: nothing is charged twice.
    expect(
      await store.transition(id, 0, ['running'], 'completed', {
        inputTokens: 500,
        outputTokens: 120,
        costUsd: 0.00001,
      }),
    ).toBe(false);
    const [item] = await store.items(id, 0, 1);
    expect(item.usage).toEqual({ inputTokens: 800, outputTokens: 200 });
    expect(item.costUsd).toBeCloseTo(0.00021, 9);
    const batch = await store.get(id);
    expect(batch?.usage).toEqual({ inputTokens: 800, outputTokens: 200 });
    expect(batch?.cost.usd).toBeCloseTo(0.00021, 9);
  });

  it('charges an item for the calls of an attempt that failed and was tried again', async () => {
    const { id } = await newBatch([{ ...meta, itemId: 'a', route: route('cloud'), workTokens: 40 }]);
    await store.transition(id, 0, ['queued'], 'running');
    // Two calls of a long item went through, the third failed: the job goes back to be tried again.
    const carry = { inputTokens: 300, outputTokens: 80, costUsd: 0.0002 };
    expect(await store.transition(id, 0, ['running'], 'queued', { error: 'attempt 1 failed', carry })).toBe(true);
    await store.transition(id, 0, ['queued'], 'running');
    expect(await store.transition(id, 0, ['running'], 'queued', { error: 'attempt 2 failed', carry })).toBe(true);
    await store.transition(id, 0, ['queued'], 'running');
    await store.transition(id, 0, ['running'], 'completed', {
      result: 'ok',
      inputTokens: 500,
      outputTokens: 120,
      costUsd: 0.0003,
    });
    const [item] = await store.items(id, 0, 1);
    expect(item.usage).toEqual({ inputTokens: 1100, outputTokens: 280 });
    expect(item.costUsd).toBeCloseTo(0.0007, 9);
    expect((await store.get(id))?.cost.usd).toBeCloseTo(0.0007, 9);
  });

  it("counts what unfinished items already spent (before a reroute or a retry) against the batch's budget", async () => {
    const { id } = await store.create(
      {
        kind: 'document-processing',
        sensitivity: 'public',
        deadlineAt: Date.now() + 60_000,
        task: { type: 'summarize' },
        createdAt: Date.now(),
        maxCostUsd: 0.001,
      },
      [
        { ...meta, itemId: 'a', route: route('cloud'), workTokens: 1 },
        { ...meta, itemId: 'b', route: route('cloud'), workTokens: 1 },
      ],
    );
    await store.transition(id, 0, ['queued'], 'running');
    await store.reroute({
      batchId: id,
      index: 0,
      fromProvider: 'frontier',
      route: route('local'),
      note: 'circuit open',
      statuses: ['running'],
      spent: { inputTokens: 300, outputTokens: 80, costUsd: 0.0004 },
    });
    await store.transition(id, 1, ['queued'], 'running');
    await store.transition(id, 1, ['running'], 'queued', {
      error: 'attempt 1 failed',
      carry: { inputTokens: 300, outputTokens: 80, costUsd: 0.0004 },
    });
    // 0.0008 spent by items that have not finished: a call that may cost 0.0003 more would pass the budget.
    expect((await store.get(id))?.budget).toMatchObject({ spentUsd: 0.0008, reservedUsd: 0 });
    expect(await store.reserveBudget(id, 0.0003)).toBe(false);
    expect(await store.reserveBudget(id, 0.0001)).toBe(true);
    await store.releaseBudget(id, 0.0001);
    // Once they finish, it is in the batch's cost, counted once.
    for (const index of [0, 1]) {
      await store.transition(id, index, ['queued'], 'running');
      await store.transition(id, index, ['running'], 'completed', {
        result: 'ok',
        inputTokens: 10,
        outputTokens: 10,
        costUsd: 0,
      });
    }
    const done = await store.get(id);
    expect(done?.cost.usd).toBeCloseTo(0.0008, 9);
    expect(done?.budget?.spentUsd).toBeCloseTo(0.0008, 9);
  });

  it('reserves budget atomically: concurrent reservations never exceed maxCostUsd', async () => {
    const { id } = await store.create(
      {
        kind: 'document-processing',
        sensitivity: 'public',
        deadlineAt: Date.now() + 60_000,
        task: { type: 'summarize' },
        createdAt: Date.now(),
        maxCostUsd: 0.01,
      },
      Array.from({ length: 20 }, (_, i) => ({ ...meta, itemId: `i${i}`, route: route('cloud'), workTokens: 1 })),
    );
    const granted = await Promise.all(Array.from({ length: 20 }, () => store.reserveBudget(id, 0.001)));
    expect(granted.filter(Boolean)).toHaveLength(10);
    let batch = await store.get(id);
    expect(batch?.budget).toEqual({ maxUsd: 0.01, spentUsd: 0, reservedUsd: 0.01, reached: true });
    // One call finishes cheaper than its reservation: the rest of the reservation comes back.
    await store.transition(id, 0, ['queued'], 'running');
    await store.releaseBudget(id, 0.001);
    await store.transition(id, 0, ['running'], 'completed', { costUsd: 0.0004 });
    batch = await store.get(id);
    expect(batch?.budget?.spentUsd).toBeCloseTo(0.0004, 9);
    expect(batch?.budget?.reservedUsd).toBeCloseTo(0.009, 9);
    expect(await store.reserveBudget(id, 0.0005)).toBe(true);
    expect(await store.reserveBudget(id, 0.0005)).toBe(false);
  });

  it('pages through batches created in the same millisecond, each once, newest first then by id', async () => {
    const tenant = `same-ms-${randomUUID().slice(0, 8)}`;
    const at = Date.now() - 5_000;
    const created = async (createdAt: number) =>
      (
        await store.create(
          {
            kind: 'document-processing',
            sensitivity: 'internal',
            deadlineAt: at + 60_000,
            task: { type: 'summarize' },
            createdAt,
            tenant,
          },
          [{ ...meta, itemId: 'a', route: route('cloud'), workTokens: 1 }],
        )
      ).id;
    const newer = await created(at + 1);
    const tied = await Promise.all(Array.from({ length: 5 }, () => created(at)));
    const older = await created(at - 1);
    const expected = [newer, ...[...tied].sort().reverse(), older];
    const listed: string[] = [];
    let before: string | undefined;
    for (let page = 0; page < 10; page++) {
      const batches = await store.list(2, before === undefined ? undefined : parseListCursor(before)!, tenant);
      if (batches.length === 0) break;
      listed.push(...batches.map((b) => b.id));
      before = cursorAfter(batches.at(-1)!);
    }
    expect(listed).toEqual(expected);
    // A bare createdAt, the cursor's earlier form, still pages strictly before it.
    expect((await store.list(10, parseListCursor(new Date(at).toISOString())!, tenant)).map((b) => b.id)).toEqual([
      older,
    ]);
  });

  it('walks every item of a batch larger than one page, in order', async () => {
    const { id } = await newBatch(
      Array.from({ length: 1205 }, (_, i) => ({ ...meta, itemId: `i${i}`, route: route('local'), workTokens: 1 })),
    );
    const seen: number[] = [];
    for await (const item of store.eachItem(id)) seen.push(item.index);
    expect(seen).toEqual(Array.from({ length: 1205 }, (_, i) => i));
    expect((await store.items(id, 0, 5000)).length).toBe(1000); // one page is capped; eachItem is not
  });

  // Issue 14 §4: on a Cluster creation is three steps in two slots; a crash between them must lose nothing.
  describe('creation cut short by a crash', () => {
    const keys = new BatchKeys(prefix);
    const body = { ...meta, itemId: 'a', route: route('cloud'), workTokens: 30 };

    it('a claim whose batch was never written: the retry writes the batch under the claimed id', async () => {
      // The first attempt claimed the key and died before writing anything else.
      await redis.set(keys.idempotency('died-after-claim'), 'claimed-id hash-1');
      expect(await store.findByIdempotencyKey('died-after-claim')).toBeNull();
      const retried = await newBatch([body], 'died-after-claim', 'hash-1');
      expect(retried).toEqual({ id: 'claimed-id', created: true });
      expect((await store.get('claimed-id'))?.counts.total).toBe(1);
      expect((await store.list(100)).map((b) => b.id)).toContain('claimed-id');
      expect(await store.findByIdempotencyKey('died-after-claim')).toEqual({ id: 'claimed-id', bodyHash: 'hash-1' });
      // Another body under the same key is not a retry: the claim's batch is answered, with its body's hash.
      expect(await newBatch([body], 'died-after-claim', 'hash-2')).toEqual({
        id: 'claimed-id',
        created: false,
        bodyHash: 'hash-1',
      });
    });

    it('a batch written but never indexed: the resumed submission indexes it, and its backlog counts', async () => {
      const before = await store.backlog('cloud', 'frontier');
      const { id } = await newBatch([body], 'died-before-index', 'hash-1');
      // As if the process died between the batch's script and the global MULTI.
      await redis.zrem(keys.index(), id);
      await redis.srem(keys.openBacklogs(), id);
      expect((await store.list(100)).map((b) => b.id)).not.toContain(id);
      expect(await store.backlog('cloud', 'frontier')).toBeCloseTo(before, 6);
      expect(await newBatch([body], 'died-before-index', 'hash-1')).toEqual({ id, created: false, bodyHash: 'hash-1' });
      expect((await store.list(100)).map((b) => b.id)).toContain(id);
      expect(await store.backlog('cloud', 'frontier')).toBeCloseTo(before + 30, 6);
    });

    it('two writers of one claimed batch: exactly one creates it', async () => {
      await redis.set(keys.idempotency('two-writers'), 'racing-id hash-1');
      const [a, b] = await Promise.all([
        newBatch([body], 'two-writers', 'hash-1'),
        newBatch([body, { ...body, itemId: 'b' }], 'two-writers', 'hash-1'),
      ]);
      expect([a.created, b.created].sort()).toEqual([false, true]);
      const total = (await store.get('racing-id'))?.counts.total;
      expect(total).toBe(a.created ? 1 : 2);
    });

    it('two writers of one claimed batch of several creation chunks: one creates it, the other writes no item', async () => {
      await redis.set(keys.idempotency('two-big-writers'), 'big-racing-id hash-1');
      const many = (n: number, tag: string) =>
        Array.from({ length: n }, (_, i) => ({ ...body, itemId: `${tag}${i}`, workTokens: 1 }));
      const [a, b] = await Promise.all([
        newBatch(many(2500, 'a'), 'two-big-writers', 'hash-1'),
        newBatch(many(3100, 'b'), 'two-big-writers', 'hash-1'),
      ]);
      expect([a.created, b.created].sort()).toEqual([false, true]);
      const [n, tag] = a.created ? [2500, 'a'] : [3100, 'b'];
      expect((await store.get('big-racing-id'))?.counts.total).toBe(n);
      const ids: string[] = [];
      for await (const item of store.eachItem('big-racing-id')) ids.push(item.id);
      expect(ids).toEqual(Array.from({ length: n }, (_, i) => `${tag}${i}`));
      // Not one item of the loser past the winner's last: its chunks wrote nothing.
      expect(await redis.exists(keys.item('big-racing-id', 3000))).toBe(a.created ? 0 : 1);
      expect(await store.backlog('cloud', 'frontier')).toBeGreaterThanOrEqual(n);
    });
  });
});
