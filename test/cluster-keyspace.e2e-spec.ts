import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import { ApiKeyStore, KeyRateLimiter } from '#libs/access';
import { AuditTrail } from '#libs/audit';
import { BatchStore, type NewBatch, type NewItem } from '#libs/batches';
import { CircuitRegistry, PoolRegistry, ProviderCapabilities, TokenRateLimiter, type PoolHeartbeat } from '#libs/pools';
import { assertNoEviction, keySlot } from '#libs/redis';
import { ScheduleStore } from '#libs/schedules';
import { CrashableCluster } from './support/redis-cluster.js';

/**
 * Switchyard's whole keyspace on a real Redis Cluster (3 masters, 3 replicas, started here): every script,
 * MULTI and multi-key read runs through `new Cluster(nodes)`, where a key in another slot is refused with
 * CROSSSLOT (issue 14 §4). The single-node int-specs check the same behaviour in depth; this checks it holds
 * when the keys really are spread.
 */
describe('the keyspace on a Redis Cluster', () => {
  let cluster: CrashableCluster;
  let redis: Cluster;
  const prefix = `t-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    cluster = await CrashableCluster.start();
    redis = new Cluster(cluster.nodes);
    await new Promise<void>((resolve, reject) => {
      redis.once('ready', resolve);
      redis.once('error', reject);
    });
  }, 60_000);
  afterAll(async () => {
    await redis?.quit();
    await cluster?.stop();
  });

  const route = (target: 'local' | 'cloud', provider: string) => ({
    target,
    provider,
    model: 'm',
    reason: 'test',
    at: new Date().toISOString(),
  });
  const item = (itemId: string, target: 'local' | 'cloud', provider: string, workTokens: number): NewItem => ({
    itemId,
    sensitivity: 'internal',
    pii: { declared: 'internal', categories: [], raised: false },
    route: route(target, provider),
    workTokens,
  });
  const batch = (overrides: Partial<NewBatch> = {}): NewBatch => ({
    kind: 'document-processing',
    sensitivity: 'internal',
    deadlineAt: Date.now() + 60_000,
    task: { type: 'summarize' },
    createdAt: Date.now(),
    ...overrides,
  });

  it('refuses nothing: eviction check on every master, and the server computes the slots we do', async () => {
    await assertNoEviction(redis);
    const keys = ['switchyard:sy:batch:{b-1}', '{switchyard:sy}:batches', '{switchyard}:inference-cloud.x:wait'];
    for (const key of keys) expect(await redis.cluster('KEYSLOT', key)).toBe(keySlot(key));
  });

  it('creates, moves, reroutes, budgets, cancels and lists batches, and spreads them by batch id', async () => {
    const store = new BatchStore(redis, prefix);
    const tenant = 'acme';
    const first = await store.create(
      batch({ tenant, maxCostUsd: 0.01 }),
      [item('a', 'local', 'llama', 40), item('b', 'cloud', 'frontier', 60), item('c', 'cloud', 'frontier', 5)],
      { idempotencyKey: 'idem-1', bodyHash: 'hash-1' },
    );
    expect(first.created).toBe(true);
    // The same key and body: the same batch, not another.
    const again = await store.create(batch({ tenant }), [item('x', 'local', 'llama', 1)], {
      idempotencyKey: 'idem-1',
      bodyHash: 'hash-1',
    });
    expect(again).toEqual({ id: first.id, created: false, bodyHash: 'hash-1' });
    expect(await store.findByIdempotencyKey('idem-1')).toEqual({ id: first.id, bodyHash: 'hash-1' });
    expect(await store.backlog('local', 'llama')).toBeCloseTo(40, 6);
    expect(await store.backlog('cloud', 'frontier')).toBeCloseTo(65, 6);

    expect(await store.transition(first.id, 0, ['queued'], 'running')).toBe(true);
    expect(await store.transition(first.id, 0, ['queued'], 'running')).toBe(false); // exactly once
    expect(await store.reserveBudget(first.id, 0.008)).toBe(true);
    expect(await store.reserveBudget(first.id, 0.004)).toBe(false);
    await store.releaseBudget(first.id, 0.008);
    expect(
      await store.transition(first.id, 0, ['running'], 'completed', { result: 'ok', inputTokens: 10, costUsd: 0.002 }),
    ).toBe(true);
    expect(await store.backlog('local', 'llama')).toBeCloseTo(0, 6);

    // Item b leaves frontier for the local pool: its work moves with it, in the batch's slot.
    expect(await store.transition(first.id, 1, ['queued'], 'running')).toBe(true);
    const routes = await store.reroute({
      batchId: first.id,
      index: 1,
      fromProvider: 'frontier',
      route: route('local', 'llama'),
      note: 'frontier is down',
    });
    expect(routes).toBe(2);
    expect(await store.backlog('local', 'llama')).toBeCloseTo(60, 6);
    expect(await store.backlog('cloud', 'frontier')).toBeCloseTo(5, 6);

    expect((await store.cancel(first.id)).sort()).toEqual([1, 2]);
    const done = await store.get(first.id);
    expect(done?.status).toBe('partial');
    expect(done?.counts).toMatchObject({ total: 3, completed: 1, cancelled: 2, queued: 0, running: 0 });
    // Finished: the batch adds to no provider's backlog any more.
    expect(await store.backlog('local', 'llama')).toBe(0);
    expect(await store.backlog('cloud', 'frontier')).toBe(0);
    expect((await store.items(first.id, 0, 10)).map((i) => i.status)).toEqual(['completed', 'cancelled', 'cancelled']);

    const others = await Promise.all(
      [1, 2, 3].map(() =>
        store.create(batch({ tenant }), [item('d', 'local', 'llama', 1), item('e', 'local', 'llama', 1)]),
      ),
    );
    const ids = [first.id, ...others.map((o) => o.id)];
    expect((await store.list(10, undefined, tenant)).map((b) => b.id).sort()).toEqual([...ids].sort());
    // Each batch's records share its slot; batches are on different slots (all four on one: 1 in 16384³).
    const slots = ids.map((id) => keySlot(`${prefix}:sy:batch:{${id}}`));
    for (const [i, id] of ids.entries())
      expect(await redis.cluster('KEYSLOT', `${prefix}:sy:item:{${id}}:1`)).toBe(slots[i]);
    expect(new Set(slots).size).toBeGreaterThan(1);
  });

  it('keeps schedules, API keys, rate limits and the audit trail', async () => {
    const schedules = new ScheduleStore(redis, prefix);
    await schedules.save({ name: 'nightly', cron: '0 2 * * *', tz: 'UTC', batch: { items: [] }, createdAt: 1 });
    await schedules.holdFileHashes('nightly', 'b1', { 'a.js': 'h1' });
    await schedules.settleFileHashes('nightly', 'b1', { 'a.js': 'h1' });
    expect((await schedules.list()).map((s) => s.name)).toEqual(['nightly']);
    expect(await schedules.fileHashes('nightly')).toEqual({ 'a.js': 'h1' });
    expect(await schedules.delete('nightly')).toBe(true);

    const keys = new ApiKeyStore(redis, prefix);
    const { key, secret } = await keys.create({ name: 'ci', scopes: ['submit'], expiresAt: null, limits: {} });
    expect((await keys.findBySecret(secret))?.id).toBe(key.id);
    expect((await keys.list()).map((k) => k.id)).toEqual([key.id]);
    expect((await keys.revoke(key.id))?.id).toBe(key.id);

    const limiter = new KeyRateLimiter(redis, prefix);
    const limits = { requestsPerMinute: 1, tokensPerMinute: 100 };
    expect(await limiter.consume(key.id, 50, limits, 1_000)).toEqual({ allowed: true });
    expect(await limiter.consume(key.id, 10, limits, 1_000)).toMatchObject({
      allowed: false,
      limit: 'requestsPerMinute',
    });

    const audit = new AuditTrail(redis, prefix);
    await audit.record([
      {
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
      },
    ]);
    expect(await audit.length()).toBe(1);
    expect((await audit.page({ limit: 10 })).entries.map((e) => e.kind)).toEqual(['route']);
  });

  it('keeps pools, measurements, circuits, learned capabilities and token windows', async () => {
    const pools = new PoolRegistry(redis, prefix, 60_000);
    const now = Date.now();
    const beat: PoolHeartbeat = {
      id: 'h:1:q',
      target: 'local',
      provider: 'llama',
      model: 'm',
      queue: 'q',
      host: 'h',
      pid: 1,
      device: 'cpu',
      deviceNames: [],
      memory: null,
      modelBytes: null,
      status: 'consuming',
      reason: '',
      sequences: 2,
      activeSequences: 2,
      busy: 0,
      startedAt: now,
      at: now,
    };
    await pools.beat(beat);
    expect((await pools.live(now)).map((p) => p.id)).toEqual(['h:1:q']);
    await pools.recordTokenRatios(
      'summarize',
      { inputTokens: 100, outputTokens: 20 },
      { inputTokens: 80, outputTokens: 20 },
    );
    await pools.recordCallTiming('frontier', 100, 500);
    expect(await pools.latencyFit('frontier')).not.toBeUndefined();
    await pools.remove('h:1:q');
    expect(await pools.live(now)).toEqual([]);

    const circuits = new CircuitRegistry(redis, prefix, { failureThreshold: 2, openMs: 1000 });
    await circuits.recordFailure('frontier', 1);
    expect((await circuits.recordFailure('frontier', 2)).state).toBe('open');
    expect(await circuits.admit('frontier', 3)).toBe('refused');

    const capabilities = new ProviderCapabilities(redis, prefix);
    expect(await capabilities.recordRefusal('frontier', 'structured-output', 'b:0', now)).toBeNull();
    expect((await capabilities.recordRefusal('frontier', 'structured-output', 'b:1', now))?.learnedNow).toBe(true);
    expect((await capabilities.lacks('frontier')).map((l) => l.capability)).toEqual(['structured-output']);

    const tokens = new TokenRateLimiter(redis, prefix);
    expect(await tokens.take('frontier', 80, 100)).toBe(0);
    expect(await tokens.take('frontier', 30, 100)).toBeGreaterThan(0);
  });
});
