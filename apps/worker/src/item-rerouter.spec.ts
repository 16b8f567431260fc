import { describe, expect, it } from '@jest/globals';
import type { AuditEvent } from '#libs/audit';
import type { BatchStore } from '#libs/batches';
import type { WorkItem } from '#libs/domain';
import type { JobQueue } from '#libs/queue';
import type { ProviderDirectory } from '#libs/pools';
import type { RouteDecision, RoutingPolicy } from '#libs/routing';
import { ItemRerouter, MAX_FAILED_MOVES } from './item-rerouter.js';

const item: WorkItem = {
  batchId: 'b1',
  index: 3,
  itemId: 'memo-3',
  kind: 'document-processing',
  sensitivity: 'internal',
  deadline: Date.now() + 60_000,
  input: 'CANARY-REROUTE text',
};
const decision: RouteDecision = {
  target: 'cloud',
  provider: 'frontier',
  model: 'm',
  reason: 'cheapest on time',
  atRisk: false,
  estimatedFinishAt: 0,
  estimatedCostUsd: 0,
};

/** The rerouter's store and queue reduced to what apply() uses; `moved` is what the store's guarded reroute answers. */
function rerouter(moved: number) {
  const events: AuditEvent[] = [];
  const order: string[] = [];
  const store = { reroute: async () => (order.push('store'), moved) } as unknown as BatchStore;
  const jobs = { enqueue: async () => void order.push('enqueue') } as unknown as JobQueue;
  const audit = {
    recorder: { record: async (e: AuditEvent[]) => void (order.push('audit'), events.push(...e)) },
    clearanceOf: () => 'internal' as const,
  };
  return {
    events,
    order,
    rerouter: new ItemRerouter({
      store,
      jobs,
      directory: {} as ProviderDirectory,
      policy: {} as RoutingPolicy,
      maxOutputTokens: 64,
      audit,
    }),
  };
}

describe('ItemRerouter audit', () => {
  it('records an applied move (an escalation here) after the store took it and before the new job exists, without the item text', async () => {
    const { events, order, rerouter: r } = rerouter(2);
    const applied = await r.apply(item, { target: 'local', provider: 'tiny' }, decision, {
      why: 'escalated: local finish misses the deadline',
      statuses: ['queued'],
    });
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
    expect(
      await r.apply(item, { target: 'local', provider: 'tiny' }, decision, { why: 'escalated', statuses: ['queued'] }),
    ).toBe(false);
    expect(events).toEqual([]);
    expect(order).toEqual(['store']);
  });
});

describe('ItemRerouter limits', () => {
  const view = (over: object) => ({ ruledOut: [], failedMoves: 0, ...over });
  const cloudView = {
    target: 'cloud',
    name: 'frontier',
    model: 'm',
    clearance: 'internal',
    price: { inputPerMTokUsd: 0, outputPerMTokUsd: 0 },
    tokensPerSec: 100,
    concurrency: 1,
    backlogTokens: 0,
    latencyMs: 0,
  };
  const localView = { ...cloudView, target: 'local', name: 'tiny', clearance: 'restricted' };
  const proposer = (itemView: object) => {
    const store = {
      task: async () => ({ type: 'summarize' }),
      item: async () => view(itemView),
    } as unknown as BatchStore;
    const directory = {
      routingState: async (now: number) => ({ now, providers: [localView, cloudView] }),
      calibration: async () => undefined,
    } as unknown as ProviderDirectory;
    const policy = {
      decide: (_i: unknown, s: { providers: Array<{ name: string; target: string }> }) => ({
        ...decision,
        provider: s.providers[0].name,
        target: s.providers[0].target,
      }),
    } as unknown as RoutingPolicy;
    return new ItemRerouter({ store, jobs: {} as JobQueue, directory, policy, maxOutputTokens: 64 });
  };
  const from = { target: 'cloud' as const, provider: 'frontier' };

  it('never moves a pinned item, whatever failed', async () => {
    expect(
      await proposer({}).propose(
        { ...item, model: 'tiny' },
        { target: 'local', provider: 'tiny' },
        { cloudOnly: true },
      ),
    ).toBeNull();
  });

  it('moves an item after failures at most MAX_FAILED_MOVES times', async () => {
    expect(
      (await proposer({ failedMoves: MAX_FAILED_MOVES - 1 }).propose(item, from, { left: { ruleOut: false } }))
        ?.provider,
    ).toBe('tiny');
    expect(
      await proposer({ failedMoves: MAX_FAILED_MOVES }).propose(item, from, { left: { ruleOut: false } }),
    ).toBeNull();
  });

  it('never proposes a provider the item was ruled out on', async () => {
    expect(
      await proposer({ ruledOut: [{ target: 'local', provider: 'tiny', reason: 'answers rejected' }] }).propose(
        item,
        from,
        { left: { ruleOut: true } },
      ),
    ).toBeNull();
  });
});
