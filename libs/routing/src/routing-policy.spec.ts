import { describe, expect, it } from '@jest/globals';
import { RoutingPolicy, type ProviderView, type RoutableItem, type RoutingState } from './routing-policy.js';

const NOW = 1_700_000_000_000;

const local: ProviderView = {
  target: 'local', name: 'local', model: 'llama', clearance: 'restricted',
  price: { inputPerMTokUsd: 0.01, outputPerMTokUsd: 0.03 },
  tokensPerSec: 20, concurrency: 1, backlogTokens: 0, latencyMs: 0,
};
const cloud: ProviderView = {
  target: 'cloud', name: 'frontier', model: 'gpt', clearance: 'internal',
  price: { inputPerMTokUsd: 0.15, outputPerMTokUsd: 0.6 },
  tokensPerSec: 100, concurrency: 16, backlogTokens: 0, latencyMs: 500,
};
const state = (...providers: ProviderView[]): RoutingState => ({ now: NOW, providers });
const item = (over: Partial<RoutableItem> = {}): RoutableItem => ({
  sensitivity: 'public', deadline: NOW + 86_400_000, inputTokens: 200, expectedOutputTokens: 100, ...over,
});

describe('RoutingPolicy', () => {
  const policy = new RoutingPolicy();

  it('runs an item locally when local meets a lax deadline (cheapest)', () => {
    const d = policy.decide(item(), state(local, cloud));
    expect(d.target).toBe('local');
    expect(d.atRisk).toBe(false);
    expect(d.reason).toMatch(/cheapest/);
  });

  it('sends a public item to the cloud when local cannot meet its deadline', () => {
    const d = policy.decide(item({ deadline: NOW + 3000 }), state(local, cloud));
    expect(d.target).toBe('cloud');
    expect(d.provider).toBe('frontier');
    expect(d.atRisk).toBe(false);
  });

  it('never sends a restricted item to the cloud, even when local will miss the deadline', () => {
    const d = policy.decide(item({ sensitivity: 'restricted', deadline: NOW + 1000 }), state(local, cloud));
    expect(d.target).toBe('local');
    expect(d.atRisk).toBe(true);
    expect(d.reason).toMatch(/at-risk/);
    expect(d.reason).toMatch(/not cleared for restricted/);
  });

  it('respects the clearance boundary exactly: internal goes out, confidential stays', () => {
    const tight = NOW + 3000;
    expect(policy.decide(item({ sensitivity: 'internal', deadline: tight }), state(local, cloud)).target).toBe('cloud');
    expect(policy.decide(item({ sensitivity: 'confidential', deadline: tight }), state(local, cloud)).target).toBe('local');
  });

  it('picks the cheaper cloud provider when both meet the deadline', () => {
    const cheap = { ...cloud, name: 'sovereign', price: { inputPerMTokUsd: 0.05, outputPerMTokUsd: 0.2 } };
    const d = policy.decide(item({ deadline: NOW + 3000 }), state(local, cloud, cheap));
    expect(d.provider).toBe('sovereign');
  });

  it('marks the fastest cleared cloud at-risk when nobody meets the deadline', () => {
    const d = policy.decide(item({ deadline: NOW + 100 }), state(local, cloud));
    expect(d.target).toBe('cloud');
    expect(d.atRisk).toBe(true);
  });

  it('counts work queued ahead: a long local backlog pushes a tight item to the cloud', () => {
    const busy = { ...local, backlogTokens: 20 * 60 }; // one minute of work ahead
    expect(policy.decide(item({ deadline: NOW + 30_000 }), state(local, cloud)).target).toBe('local');
    expect(policy.decide(item({ deadline: NOW + 30_000 }), state(busy, cloud)).target).toBe('cloud');
  });

  it('plans a batch so later items see the local queue earlier ones built', () => {
    const items = Array.from({ length: 10 }, () => item({ deadline: NOW + 20_000, expectedOutputTokens: 100 }));
    const plan = policy.plan(items, state(local, cloud));
    const locals = plan.filter((d) => d.target === 'local').length;
    expect(locals).toBeGreaterThan(0);
    expect(locals).toBeLessThan(10);
    expect(plan.slice(0, locals).every((d) => d.target === 'local')).toBe(true);
  });

  it('reports the estimated cost with the chosen provider prices', () => {
    const d = policy.decide(item({ inputTokens: 1_000_000, expectedOutputTokens: 1_000_000 }), state(local));
    expect(d.estimatedCostUsd).toBeCloseTo(0.04, 9);
  });
});
