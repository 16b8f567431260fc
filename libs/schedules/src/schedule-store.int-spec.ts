import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { ScheduleStore } from './schedule-store.js';
import type { ScheduleDefinition } from './schedule-types.js';

const def = (tenant: string | null, createdAt: number): ScheduleDefinition => ({
  name: 'nightly',
  every: 3_600_000,
  batch: { kind: 'document-processing' },
  createdAt,
  tenant,
  ownerKeyId: null,
});

describe('ScheduleStore.save (real Redis)', () => {
  let redis: Redis;
  let store: ScheduleStore;

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    store = new ScheduleStore(redis, `t-${randomUUID().slice(0, 8)}`);
  });
  afterAll(async () => {
    await redis.quit();
  });

  it("claims a free name for a tenant, lets that tenant replace it, and never writes over another tenant's", async () => {
    expect(await store.save(def('acme', 1), 'acme')).toBe(true);
    expect(await store.save(def('acme', 2), 'acme')).toBe(true);
    // Both tenants checked the name was free before either wrote: the second write is refused, not a takeover.
    expect(await store.save(def('globex', 3), 'globex')).toBe(false);
    expect(await store.get('nightly')).toMatchObject({ tenant: 'acme', createdAt: 2 });
    expect((await store.list()).map((d) => d.name)).toEqual(['nightly']);
  });

  it("an admin's write (no claim) replaces whatever is there; a schedule without a tenant is no tenant's to claim", async () => {
    expect(await store.save(def(null, 4))).toBe(true);
    expect(await store.save(def('acme', 5), 'acme')).toBe(false);
    expect(await store.get('nightly')).toMatchObject({ tenant: null, createdAt: 4 });
  });
});
