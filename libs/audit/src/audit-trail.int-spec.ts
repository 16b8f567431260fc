import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { AuditEvent } from './audit-entry.js';
import { AuditTrail } from './audit-trail.js';
import { EgressRecorder, itemOfJobId } from './egress-recorder.js';

const event = (overrides: Partial<AuditEvent> = {}): AuditEvent => ({
  kind: 'route',
  batchId: 'b1',
  index: 0,
  itemId: 'doc-0',
  target: 'cloud',
  provider: 'frontier',
  clearance: 'internal',
  sensitivity: 'public',
  reason: 'cheapest on time',
  at: new Date().toISOString(),
  ...overrides,
});

describe('AuditTrail (real Redis)', () => {
  let redis: Redis;
  const trail = (opts = {}) => new AuditTrail(redis, `t-${randomUUID().slice(0, 8)}`, opts);

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('reads back what it recorded, in order, with every field and an increasing id', async () => {
    const t = trail();
    const events = [
      event(),
      event({ kind: 'egress', index: 1, itemId: undefined, reason: undefined, attempt: 2 }),
      event({ kind: 'egress-refused', target: 'cloud', sensitivity: 'restricted' }),
    ];
    await t.record(events);
    const page = await t.page({ limit: 10 });
    expect(page.next).toBeNull();
    expect(page.entries.map(({ id: _id, ...rest }) => rest)).toEqual(events.map((e) => JSON.parse(JSON.stringify(e))));
    const ids = page.entries.map((e) => e.id.split('-').map(BigInt));
    for (let i = 1; i < ids.length; i++)
      expect(ids[i][0] > ids[i - 1][0] || (ids[i][0] === ids[i - 1][0] && ids[i][1] > ids[i - 1][1])).toBe(true);
  });

  it('marks every entry for a provider declared on premises, whoever recorded it, and no other', async () => {
    const t = trail({ onPremisesProviders: ['sovereign'] });
    await t.record([
      event({ provider: 'sovereign' }),
      event({ kind: 'egress', provider: 'sovereign', attempt: 1 }),
      event({ provider: 'frontier' }),
      // A local pool that happens to share the name is not the declared endpoint.
      event({ target: 'local', provider: 'sovereign', clearance: 'restricted' }),
    ]);
    const { entries } = await t.page({ limit: 10 });
    expect(entries.map((e) => e.onPremises)).toEqual([true, true, undefined, undefined]);
  });

  it('pages with ?after and filters by batch and kind while scanning past other entries', async () => {
    const t = trail();
    const events: AuditEvent[] = [];
    for (let i = 0; i < 1200; i++)
      events.push(
        event({ batchId: i % 3 === 0 ? 'wanted' : 'other', kind: i % 2 === 0 ? 'route' : 'egress', index: i }),
      );
    await t.record(events);
    const seen: number[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await t.page({ batchId: 'wanted', kind: 'route', after, limit: 70 });
      seen.push(...page.entries.map((e) => e.index));
      for (const e of page.entries) expect(e).toMatchObject({ batchId: 'wanted', kind: 'route' });
      if (page.next === null) break;
      after = page.next;
    }
    expect(seen).toEqual(events.filter((e) => e.batchId === 'wanted' && e.kind === 'route').map((e) => e.index));
  });

  it('bounds the work of one page: a filter that matches nothing returns a cursor to go on from', async () => {
    const t = trail();
    await t.record(Array.from({ length: 1500 }, (_, i) => event({ index: i })));
    const first = await t.page({ batchId: 'absent', limit: 10, maxScan: 1000 });
    expect(first.entries).toEqual([]);
    expect(first.next).not.toBeNull();
    const rest = await t.page({ batchId: 'absent', limit: 10, after: first.next!, maxScan: 1000 });
    expect(rest).toEqual({ entries: [], next: null });
  });

  it('exports everything up to the newest entry at the start, even while writes go on', async () => {
    const t = trail();
    await t.record(Array.from({ length: 1100 }, (_, i) => event({ index: i })));
    const seen: number[] = [];
    for await (const e of t.each({}, 300)) {
      seen.push(e.index);
      if (seen.length === 1) await t.record([event({ index: 99_999 })]);
    }
    expect(seen).toEqual(Array.from({ length: 1100 }, (_, i) => i));
  });

  it('keeps every entry by default, and about maxEntries when retention is set', async () => {
    const keepAll = trail();
    await keepAll.record(Array.from({ length: 3000 }, (_, i) => event({ index: i })));
    expect(await keepAll.length()).toBe(3000);
    const bounded = trail({ maxEntries: 500 });
    await bounded.record(Array.from({ length: 3000 }, (_, i) => event({ index: i })));
    const n = await bounded.length();
    expect(n).toBeGreaterThanOrEqual(500);
    expect(n).toBeLessThan(3000);
    const newest = await bounded.page({ limit: 1000 });
    expect(newest.entries.at(-1)?.index).toBe(2999);
  });

  it('records a provider egress report against the item its job id names', async () => {
    const t = trail();
    const egress = new EgressRecorder(t);
    await egress.beforeRequest({
      provider: 'frontier',
      model: 'gpt-x',
      clearance: 'internal',
      sensitivity: 'public',
      itemRef: 'b-7.12.r2',
      attempt: 2,
      at: 'x',
    });
    await egress.refused({
      provider: 'frontier',
      model: 'gpt-x',
      clearance: 'internal',
      sensitivity: 'restricted',
      itemRef: 'b-7.3',
      attempt: 0,
      at: 'y',
      reason: 'above clearance',
    });
    const { entries } = await t.page({ limit: 10 });
    expect(entries.map(({ id: _id, ...e }) => e)).toEqual([
      {
        kind: 'egress',
        batchId: 'b-7',
        index: 12,
        target: 'cloud',
        provider: 'frontier',
        model: 'gpt-x',
        clearance: 'internal',
        sensitivity: 'public',
        attempt: 2,
        at: 'x',
      },
      {
        kind: 'egress-refused',
        batchId: 'b-7',
        index: 3,
        target: 'cloud',
        provider: 'frontier',
        model: 'gpt-x',
        clearance: 'internal',
        sensitivity: 'restricted',
        reason: 'above clearance',
        at: 'y',
      },
    ]);
  });

  it('fails the write (so the caller does not send) when Redis refuses it', async () => {
    const broken = new Redis(process.env.REDIS_URL!, { lazyConnect: true, enableOfflineQueue: false });
    const t = new AuditTrail(broken, 'never');
    await expect(t.record([event()])).rejects.toThrow();
    await expect(
      new EgressRecorder(t).beforeRequest({
        provider: 'p',
        model: 'm',
        clearance: 'public',
        sensitivity: 'public',
        itemRef: 'b.0',
        attempt: 1,
        at: 'z',
      }),
    ).rejects.toThrow();
    broken.disconnect();
  });
});

describe('itemOfJobId', () => {
  it.each([
    ['3f2a.0', { batchId: '3f2a', index: 0 }],
    ['3f2a.17.r3', { batchId: '3f2a', index: 17 }],
    ['a.b.5', { batchId: 'a.b', index: 5 }],
    ['odd', { batchId: 'odd', index: -1 }],
  ])('%s', (ref, expected) => expect(itemOfJobId(ref)).toEqual(expected));
});
