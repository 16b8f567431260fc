import { describe, expect, it } from '@jest/globals';
import { batchWindowMs, MIN_BATCH_SAMPLES } from './provider-batch-window.js';
import { RoutingPolicy, type ProviderView, type RoutableItem, type RoutingState } from './routing-policy.js';

/**
 * Cloud tiers as routes (issue 16 §3): each tier of a provider is a view of its own, with its own price and
 * speed, weighed like any other route. These are the views ProviderDirectory builds from a provider declaring
 * `tiers: {flex: {}, batch: {}}`.
 */
const NOW = 1_700_000_000_000;
const HOUR = 3_600_000;
const STANDARD = { inputPerMTokUsd: 0.15, outputPerMTokUsd: 0.6 };
const HALF = { inputPerMTokUsd: 0.075, outputPerMTokUsd: 0.3 };

const local: ProviderView = {
  target: 'local',
  name: 'tiny',
  model: 'tiny',
  clearance: 'restricted',
  price: { inputPerMTokUsd: 0.1, outputPerMTokUsd: 0.4 },
  tokensPerSec: 20,
  concurrency: 1,
  backlogTokens: 0,
  latencyMs: 0,
};
const standard: ProviderView = {
  target: 'cloud',
  name: 'frontier',
  model: 'gpt',
  clearance: 'internal',
  price: STANDARD,
  tokensPerSec: 100,
  concurrency: 16,
  backlogTokens: 0,
  latencyMs: 500,
};
const flex: ProviderView = { ...standard, name: 'frontier.flex', price: HALF, latencyMs: 20_000, tokensPerSec: 30 };
/** The batch tier's view: its latency is the learned provider-batch duration (batchWindowMs). */
const batch = (windowMs: number): ProviderView => ({
  ...standard,
  name: 'frontier.batch',
  price: { inputPerMTokUsd: 0.07, outputPerMTokUsd: 0.28 },
  latencyMs: windowMs,
  tokensPerSec: 1e6,
});
const state = (...providers: ProviderView[]): RoutingState => ({ now: NOW, providers });
const item = (over: Partial<RoutableItem> = {}): RoutableItem => ({
  sensitivity: 'internal',
  deadline: NOW + 24 * HOUR,
  inputTokens: 2000,
  expectedOutputTokens: 500,
  ...over,
});
/** A local pool busy for days: the cloud tiers are what is left to weigh. */
const busyLocal: ProviderView = { ...local, backlogTokens: 20 * 86_400 * 10 };

describe('cloud tiers as routes', () => {
  const policy = new RoutingPolicy();

  it('picks the cheapest tier that meets the deadline: flex when its slower answer fits, standard when not', () => {
    const lax = policy.decide(item({ deadline: NOW + 10 * 60_000 }), state(busyLocal, standard, flex));
    expect(lax.provider).toBe('frontier.flex');
    expect(lax.estimatedCostUsd).toBeCloseTo((2000 * 0.075 + 500 * 0.3) / 1e6, 9);
    // Flex would take 20 s + 500/30 s ≈ 37 s, 46 s with the cloud margin: a 40 s deadline needs standard.
    const tight = policy.decide(item({ deadline: NOW + 40_000 }), state(busyLocal, standard, flex));
    expect(tight.provider).toBe('frontier');
    expect(tight.atRisk).toBe(false);
  });

  it('treats a flex tier whose circuit is open like any cheaper route down: parks for it while standard can wait, else standard', () => {
    const down = { ...flex, available: false };
    const roomy = policy.decide(item({ deadline: NOW + 10 * 60_000 }), state(busyLocal, standard, down));
    expect(roomy).toMatchObject({ provider: 'frontier.flex', parkMs: 15_000 });
    // Standard takes ~7.5 s; 20 s leaves no 5 s wait plus the probe's 5 s within the margin: standard at once.
    const tight = policy.decide(item({ deadline: NOW + 20_000 }), state(busyLocal, standard, down));
    expect(tight.provider).toBe('frontier');
    expect(tight.parkMs).toBeUndefined();
  });

  it('sends an item to the batch tier only when its deadline absorbs the learned window with the margin', () => {
    const window = batchWindowMs({
      recentMs: [2 * HOUR, 3 * HOUR, HOUR],
      configuredMs: 24 * HOUR,
      windowMs: 24 * HOUR,
    });
    expect(window).toBe(3 * HOUR);
    const routes = state(busyLocal, standard, flex, batch(window));
    // 3 h × 1.25 = 3.75 h: a deadline in 4 h absorbs it, one in 3.5 h does not (flex is next cheapest).
    expect(policy.decide(item({ deadline: NOW + 4 * HOUR }), routes).provider).toBe('frontier.batch');
    expect(policy.decide(item({ deadline: NOW + 3.5 * HOUR }), routes).provider).toBe('frontier.flex');
    // Due in 3 days: the batch tier, at its price.
    const far = policy.decide(item({ deadline: NOW + 72 * HOUR }), routes);
    expect(far.provider).toBe('frontier.batch');
    expect(far.estimatedCostUsd).toBeCloseTo((2000 * 0.07 + 500 * 0.28) / 1e6, 9);
  });

  it('counts on the whole 24 h window until enough provider batches were measured', () => {
    expect(batchWindowMs({ recentMs: [HOUR], configuredMs: 24 * HOUR, windowMs: 24 * HOUR })).toBe(24 * HOUR);
    expect(MIN_BATCH_SAMPLES).toBeGreaterThan(1);
    const routes = state(busyLocal, standard, batch(24 * HOUR));
    expect(policy.decide(item({ deadline: NOW + 26 * HOUR }), routes).provider).toBe('frontier');
    expect(policy.decide(item({ deadline: NOW + 31 * HOUR }), routes).provider).toBe('frontier.batch');
  });

  it('never sends a restricted item to any cloud tier, however cheap, even with the local pool down', () => {
    const cheapTiers = [
      { ...flex, price: { inputPerMTokUsd: 0, outputPerMTokUsd: 0 } },
      { ...batch(HOUR), price: { inputPerMTokUsd: 0, outputPerMTokUsd: 0 } },
    ];
    for (const deadline of [NOW + 60_000, NOW + 72 * HOUR]) {
      const d = policy.decide(
        item({ sensitivity: 'restricted', deadline }),
        state({ ...local, available: false }, standard, ...cheapTiers),
      );
      expect(d.target).toBe('local');
    }
    expect(() => policy.decide(item({ sensitivity: 'restricted' }), state(standard, ...cheapTiers))).toThrow(
      /no provider is cleared for "restricted"/,
    );
  });
});
