import { describe, expect, it } from '@jest/globals';
import type { AuditEvent } from '#libs/audit/src/audit-entry.js';
import type { BatchStore } from '#libs/batches/src/batch-store.js';
import type { WorkItem } from '#libs/batches/src/batch-types.js';
import type { JobQueue } from '#libs/queue/src/index.js';
import type { ProviderDirectory } from '#libs/pools/src/provider-directory.js';
import type { RouteDecision, RoutingPolicy } from '#libs/routing/src/routing-policy.js';
import { ItemRerouter } from './item-rerouter.js';

const item: WorkItem = { batchId: 'b1', index: 3, itemId: 'memo-3', kind: 'document-processing', sensitivity: 'internal', deadline: Date.now() + 60_000, input: 'CANARY-REROUTE text' };
const decision: RouteDecision = { target: 'cloud', provider: 'frontier', model: 'm', reason: 'cheapest on time', atRisk: false, estimatedFinishAt: 0, estimatedCostUsd: 0 };

/** The rerouter's store and queue reduced to what apply() uses; `moved` is what the store's guarded reroute answers. */
function rerouter(moved: number) {
  const events: AuditEvent[] = [];
  const order: string[] = [];
  const store = { reroute: async () => (order.push('store'), moved) } as unknown as BatchStore;
  const jobs = { enqueue: async () => void order.push('enqueue') } as unknown as JobQueue;
  const audit = { recorder: { record: async (e: AuditEvent[]) => void (order.push('audit'), events.push(...e)) }, clearanceOf: () => 'internal' as const };
  return { events, order, rerouter: new ItemRerouter(store, jobs, {} as ProviderDirectory, {} as RoutingPolicy, 64, audit) };
}

describe('ItemRerouter audit', () => {
  it('records an applied move (an escalation here) after the store took it and before the new job exists, without the item text', async () => {
    const { events, order, rerouter: r } = rerouter(2);
    const applied = await r.apply(item, { target: 'local', provider: 'tiny' }, decision, 'escalated: local finish misses the deadline', ['queued']);
    expect(applied).toBe(true);
    expect(order).toEqual(['store', 'audit', 'enqueue']);
    expect(events).toEqual([
      {
        kind: 'reroute',
        batchId: 'b1',
        index: 3,
        itemId: 'memo-3',
        target: 'cloud',
        provider: 'frontier',
        clearance: 'internal',
        sensitivity: 'internal',
        reason: 'from local tiny: escalated: local finish misses the deadline; cheapest on time',
        at: expect.any(String),
      },
    ]);
    expect(JSON.stringify(events)).not.toContain('CANARY');
  });

  it('records nothing when someone else moved the item first', async () => {
    const { events, order, rerouter: r } = rerouter(0);
    expect(await r.apply(item, { target: 'local', provider: 'tiny' }, decision, 'escalated', ['queued'])).toBe(false);
    expect(events).toEqual([]);
    expect(order).toEqual(['store']);
  });
});
