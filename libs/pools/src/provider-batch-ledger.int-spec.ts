import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { BATCH_DURATIONS_KEPT } from '#libs/routing';
import { ProviderBatchLedger, type PendingLine } from './provider-batch-ledger.js';

describe('ProviderBatchLedger (real Redis)', () => {
  let redis: Redis;
  let ledger: ProviderBatchLedger;
  const route = () => `r-${randomUUID().slice(0, 6)}.batch`;
  const line = (i: number): PendingLine => ({
    customId: `b.${i}`,
    batchId: 'b',
    index: i,
    itemRef: `b.${i}`,
    sensitivity: 'internal',
    body: { model: 'm' },
    item: {
      batchId: 'b',
      index: i,
      itemId: `i${i}`,
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline: 1,
      input: 'x',
    },
    deadline: 1,
    queuedAt: i,
    reservedUsd: 0.001,
  });

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    ledger = new ProviderBatchLedger(redis, `t-${randomUUID().slice(0, 8)}`);
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('keeps one line per item however often it is added, and moves lines into an open record at once', async () => {
    const r = route();
    await ledger.addPending(r, line(1));
    await ledger.addPending(r, line(0));
    await ledger.addPending(r, { ...line(0), queuedAt: 99 });
    expect((await ledger.pending(r)).map((l) => [l.customId, l.queuedAt])).toEqual([
      ['b.0', 0],
      ['b.1', 1],
    ]);
    const open = { flushId: 'f1', providerBatchId: null, lines: await ledger.pending(r), createdAt: 5, settled: [] };
    expect(await ledger.holds(r, 'b.0')).toBe(true);
    await ledger.open(r, open);
    expect(await ledger.pending(r)).toEqual([]);
    expect(await ledger.holds(r, 'b.0')).toBe(true);
    expect(await ledger.holds(r, 'b.7')).toBe(false);
    await ledger.update(r, { ...open, providerBatchId: 'pb1', settled: ['b.0'] });
    expect(await ledger.openBatches(r)).toEqual([{ ...open, providerBatchId: 'pb1', settled: ['b.0'] }]);
    await ledger.close(r, 'f1', 1234);
    expect(await ledger.openBatches(r)).toEqual([]);
    expect(await ledger.durations(r)).toEqual([1234]);
  });

  it('remembers the durations of the last provider batches only, newest first', async () => {
    const r = route();
    for (let i = 0; i < BATCH_DURATIONS_KEPT + 5; i++) await ledger.close(r, `f${i}`, i);
    const kept = await ledger.durations(r);
    expect(kept).toHaveLength(BATCH_DURATIONS_KEPT);
    expect(kept[0]).toBe(BATCH_DURATIONS_KEPT + 4);
  });

  it('opens a provider batch only from lines still pending, atomically, for up to 50,000 lines', async () => {
    const r = route();
    const many = Array.from({ length: 50_000 }, (_, i) => line(i));
    await Promise.all(many.map((l) => ledger.addPending(r, l)));
    const first = { flushId: 'f1', providerBatchId: null, lines: many, createdAt: 1, settled: [] };
    expect(await ledger.open(r, first)).toBe(true);
    expect(await ledger.pending(r)).toEqual([]);
    // A second worker that read the same pending lines opens nothing.
    await ledger.addPending(r, line(50_000));
    const second = { ...first, flushId: 'f2', lines: [line(49_999), line(50_000)] };
    expect(await ledger.open(r, second)).toBe(false);
    expect((await ledger.openBatches(r)).map((b) => b.flushId)).toEqual(['f1']);
    expect((await ledger.pending(r)).map((l) => l.customId)).toEqual(['b.50000']);
  });

  it('leases a route’s round to one owner: renewed by it, refused to others, freed by it or by time', async () => {
    const r = route();
    expect(await ledger.claimRound(r, 'a', 60_000)).toBe(true);
    expect(await ledger.claimRound(r, 'b', 60_000)).toBe(false);
    expect(await ledger.claimRound(r, 'a', 60_000)).toBe(true);
    // Only the holder frees it.
    await ledger.releaseRound(r, 'b');
    expect(await ledger.claimRound(r, 'b', 60_000)).toBe(false);
    await ledger.releaseRound(r, 'a');
    expect(await ledger.claimRound(r, 'b', 50)).toBe(true);
    // A holder that died: its lease runs out.
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(await ledger.claimRound(r, 'c', 60_000)).toBe(true);
  });
});
