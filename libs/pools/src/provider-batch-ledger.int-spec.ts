import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { globalKeyPrefix } from '#libs/redis';
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

  const prefix = `t-${randomUUID().slice(0, 8)}`;
  /** What the ledger's client sent while `run` ran: each command's name, first key and size in bytes. */
  const sent: Array<{ name: string; key: string; bytes: number }> = [];
  async function sending<T>(run: () => Promise<T>): Promise<T> {
    sent.length = 0;
    const send = redis.sendCommand.bind(redis);
    redis.sendCommand = (command, ...rest) => {
      const args = command.args.map((a) => (typeof a === 'string' || Buffer.isBuffer(a) ? a : String(a)));
      const bytes = args.reduce((n, a) => n + Buffer.byteLength(a), 0);
      sent.push({ name: command.name.toLowerCase(), key: String(args[0] ?? ''), bytes });
      return send(command, ...rest);
    };
    try {
      return await run();
    } finally {
      redis.sendCommand = send;
    }
  }

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    ledger = new ProviderBatchLedger(redis, prefix);
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
    await ledger.update(r, 'f1', { providerBatchId: 'pb1' });
    expect(await ledger.settle(r, 'f1', 'b.0')).toBe(true);
    // Settled once: a second settling (a worker with a stale view) is refused.
    expect(await ledger.settle(r, 'f1', 'b.0', 'abandoned')).toBe(false);
    expect(await ledger.settle(r, 'f1', 'b.1', 'abandoned')).toBe(true);
    expect(await ledger.openBatches(r)).toEqual([
      { ...open, providerBatchId: 'pb1', settled: ['b.0', 'b.1'], abandoned: ['b.1'] },
    ]);
    await ledger.update(r, 'f1', { cancelling: true, createdAt: 9 });
    expect(await ledger.openBatches(r)).toMatchObject([{ cancelling: true, createdAt: 9 }]);
    await ledger.close(r, open, 1234);
    expect(await ledger.openBatches(r)).toEqual([]);
    expect(await ledger.holds(r, 'b.0')).toBe(false);
    // A late worker settles or notes nothing on a closed batch, and leaves no key behind it.
    expect(await ledger.settle(r, 'f1', 'b.1')).toBe(false);
    await ledger.update(r, 'f1', { providerBatchId: 'pb1' });
    expect(await redis.keys(`*${r}*`)).toEqual([expect.stringMatching(/:durations$/)]);
    expect(await ledger.durations(r)).toEqual([1234]);
  });

  it('remembers the durations of the last provider batches only, newest first', async () => {
    const r = route();
    for (let i = 0; i < BATCH_DURATIONS_KEPT + 5; i++) await ledger.close(r, { flushId: `f${i}`, lines: [] }, i);
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

  /** A route with one open provider batch of `size` lines; its first line settled once (scripts loaded). */
  async function openOf(size: number) {
    const r = route();
    const lines = Array.from({ length: size }, (_, i) => line(i));
    for (let i = 0; i < size; i += 1000)
      await Promise.all(lines.slice(i, i + 1000).map((l) => ledger.addPending(r, l)));
    const batch = { flushId: 'f', providerBatchId: null, lines, createdAt: 1, settled: [] };
    expect(await ledger.open(r, batch)).toBe(true);
    await ledger.settle(r, 'f', 'b.0');
    return { r, batch };
  }

  it('sends the same few bytes per settled line to Redis whatever the batch’s size (not its whole record)', async () => {
    const perLine = async (size: number) => {
      const { r, batch } = await openOf(size);
      await sending(() => ledger.settle(r, 'f', `b.${size - 1}`));
      const bytes = sent.reduce((n, c) => n + c.bytes, 0);
      await ledger.close(r, batch, null);
      return bytes;
    };
    const small = await perLine(10);
    const large = await perLine(20_000);
    expect(small).toBeGreaterThan(0);
    // The custom_id's digits differ (b.9, b.19999); the record of 20,000 lines would be megabytes.
    expect(large).toBeLessThanOrEqual(small + 4);
  });

  it('finds a line in an open provider batch by its index, reading no batch record', async () => {
    const { r, batch } = await openOf(20_000);
    const found = await sending(() => ledger.holds(r, 'b.12345'));
    expect(found).toBe(true);
    expect(sent.map((c) => c.name)).toEqual(['multi', 'hexists', 'hexists', 'exists', 'exec']);
    expect(sent.every((c) => c.bytes < 200)).toBe(true);
    expect(await ledger.holds(r, 'b.20000')).toBe(false);
    await ledger.close(r, batch, null);
    expect(await ledger.holds(r, 'b.12345')).toBe(false);
    expect(await redis.exists(`${globalKeyPrefix(prefix)}:provider-batch:${r}:line-batches`)).toBe(0);
  });

  it('reads an open batch’s lines once per process: later rounds read its state and settlements only', async () => {
    const { r, batch } = await openOf(20_000);
    const first = await sending(() => ledger.openBatches(r));
    expect(first[0].lines).toHaveLength(20_000);
    expect(sent.map((c) => c.name)).toContain('hmget');
    await ledger.settle(r, 'f', 'b.7', 'abandoned');
    await ledger.update(r, 'f', { providerBatchId: 'pb-1' });
    const again = await sending(() => ledger.openBatches(r));
    expect(sent.map((c) => c.name)).not.toContain('hmget');
    expect(sent.map((c) => c.name)).not.toContain('hget');
    // What changes is still read every time.
    expect(again[0]).toMatchObject({ providerBatchId: 'pb-1', abandoned: ['b.7'] });
    expect(again[0].settled).toEqual(expect.arrayContaining(['b.0', 'b.7']));
    expect(again[0].lines).toHaveLength(20_000);
    await ledger.close(r, batch, null);
    expect(await ledger.openBatches(r)).toEqual([]);
  });

  it('keeps a provider batch recorded before this layout (whole record, settlements inside) until it closes', async () => {
    const r = route();
    const lines = [line(0), line(1), line(2)];
    // As the ledger wrote it before an upgrade: one JSON record in the route's open hash.
    const legacy = {
      flushId: 'old',
      providerBatchId: 'pb-old',
      lines,
      createdAt: 3,
      settled: ['b.0'],
      abandoned: ['b.0'],
    };
    await redis.hset(`${globalKeyPrefix(prefix)}:provider-batch:${r}:open`, 'old', JSON.stringify(legacy));
    expect(await ledger.holds(r, 'b.1')).toBe(true);
    expect(await ledger.holds(r, 'b.9')).toBe(false);
    expect(await ledger.settle(r, 'old', 'b.1')).toBe(true);
    await ledger.update(r, 'old', { cancelling: true });
    expect(await ledger.openBatches(r)).toEqual([
      { ...legacy, settled: ['b.0', 'b.1'], abandoned: ['b.0'], cancelling: true },
    ]);
    await ledger.close(r, legacy, null);
    expect(await ledger.openBatches(r)).toEqual([]);
    expect(await ledger.holds(r, 'b.1')).toBe(false);
    expect(await redis.keys(`*${r}*`)).toEqual([]);
  });
});
