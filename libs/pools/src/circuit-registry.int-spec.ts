import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { CircuitRegistry } from './circuit-registry.js';

describe('CircuitRegistry (real Redis)', () => {
  let redis: Redis;
  let circuits: CircuitRegistry;
  const p = () => `p-${randomUUID().slice(0, 6)}`;

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    circuits = new CircuitRegistry(redis, `t-${randomUUID().slice(0, 8)}`, { failureThreshold: 3, openMs: 10_000 });
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('opens after repeated failures and routes nothing through while open', async () => {
    const provider = p();
    await circuits.recordFailure(provider, 0);
    await circuits.recordFailure(provider, 1);
    expect((await circuits.get(provider, 2)).state).toBe('closed');
    expect(await circuits.admit(provider, 2)).toBe('pass');
    expect(await circuits.recordFailure(provider, 2)).toEqual({ state: 'open', failures: 3, openedAt: 2 });
    expect(await circuits.admit(provider, 5_000)).toBe('refused');
  });

  it('trips open at one failure that says the route is out (a flex tier out of capacity), and only that route', async () => {
    const flex = `${p()}.flex`;
    const standard = flex.replace(/\.flex$/, '');
    expect(await circuits.trip(flex, 7)).toEqual({ state: 'open', failures: 1, openedAt: 7 });
    expect(await circuits.admit(flex, 8)).toBe('refused');
    expect(await circuits.get(standard, 8)).toEqual({ state: 'closed', failures: 0, openedAt: null });
    // Probed again after openMs like any open circuit.
    expect(await circuits.admit(flex, 10_007)).toBe('probe');
  });

  it('half-opens after the wait and lets exactly one probe through, however many ask', async () => {
    const provider = p();
    for (let t = 0; t < 3; t++) await circuits.recordFailure(provider, t);
    const admitted = await Promise.all(Array.from({ length: 10 }, () => circuits.admit(provider, 10_005)));
    expect(admitted.filter((a) => a === 'probe')).toHaveLength(1);
    expect(admitted.filter((a) => a === 'refused')).toHaveLength(9);
    expect((await circuits.get(provider, 10_005)).state).toBe('half-open');
  });

  it('closes on a successful probe and opens again on a failed one', async () => {
    const ok = p();
    const bad = p();
    for (const provider of [ok, bad]) for (let t = 0; t < 3; t++) await circuits.recordFailure(provider, t);
    await circuits.admit(ok, 10_005);
    expect(await circuits.recordSuccess(ok)).toEqual({ state: 'closed', failures: 0, openedAt: null });
    await circuits.admit(bad, 10_005);
    expect(await circuits.recordFailure(bad, 10_006)).toMatchObject({ state: 'open', openedAt: 10_006 });
    expect(await circuits.admit(bad, 15_000)).toBe('refused');
  });

  it("trusts a closed circuit it saw for closedViewMs: another process's opening is seen after it, its own at once", async () => {
    const prefix = `t-${randomUUID().slice(0, 8)}`;
    const settings = { failureThreshold: 1, openMs: 10_000, closedViewMs: 1000 };
    const here = new CircuitRegistry(redis, prefix, settings);
    const there = new CircuitRegistry(redis, prefix, settings);
    const provider = p();
    expect(await here.admit(provider, 100)).toBe('pass');
    expect(await there.recordFailure(provider, 200)).toMatchObject({ state: 'open' });
    // Seen closed at 100: trusted until 1100, without asking Redis.
    expect(await here.admit(provider, 1099)).toBe('pass');
    expect(await here.admit(provider, 1100)).toBe('refused');
    // Its own failure ends the view at once.
    const other = p();
    expect(await here.admit(other, 100)).toBe('pass');
    await here.recordFailure(other, 150);
    expect(await here.admit(other, 151)).toBe('refused');
    // A success written here is a closed circuit seen: trusted from then on.
    expect((await here.recordSuccess(provider)).state).toBe('closed');
    await there.recordFailure(provider, Date.now());
    expect(await here.admit(provider)).toBe('pass');
  });

  it('asks Redis at every admit with closedViewMs 0, the registry default (the config sets 1 s)', async () => {
    const prefix = `t-${randomUUID().slice(0, 8)}`;
    const here = new CircuitRegistry(redis, prefix, { failureThreshold: 1, openMs: 10_000 });
    const there = new CircuitRegistry(redis, prefix, { failureThreshold: 1, openMs: 10_000 });
    const provider = p();
    expect(await here.admit(provider, 100)).toBe('pass');
    await there.recordFailure(provider, 101);
    expect(await here.admit(provider, 102)).toBe('refused');
  });
});
