import { describe, expect, it } from '@jest/globals';
import type { ProviderView, RoutableItem } from '#libs/routing';
import { batchApi } from './routers.js';
import { routersFor } from './simulate.js';
import { SCENARIOS } from './scenarios.js';

const view = (
  name: string,
  target: 'local' | 'cloud',
  clearance: ProviderView['clearance'],
  available = true,
): ProviderView => ({
  target,
  name,
  model: name,
  clearance,
  price: { inputPerMTokUsd: 1, outputPerMTokUsd: 1 },
  tokensPerSec: 50,
  concurrency: 8,
  backlogTokens: 0,
  latencyMs: 100,
  available,
});
const item = (sensitivity: RoutableItem['sensitivity']): RoutableItem => ({
  sensitivity,
  deadline: Date.now() + 60_000,
  inputTokens: 100,
  expectedOutputTokens: 50,
});

describe('the Batch-API-only router (issue 16 §4)', () => {
  const providers = [
    view('local', 'local', 'restricted'),
    view('frontier', 'cloud', 'internal'),
    view('frontier.batch', 'cloud', 'internal'),
    view('sovereign', 'cloud', 'confidential'),
  ];

  it('sends what the batch route is cleared for there, whatever its deadline, and the rest by clearance', () => {
    const r = batchApi();
    const state = { now: Date.now(), providers };
    expect(r.routeOne(item('internal'), state).provider).toBe('frontier.batch');
    expect(r.routeOne(item('confidential'), state).provider).toBe('sovereign');
    expect(r.routeOne(item('restricted'), state).provider).toBe('local');
  });

  it('is compared only where a provider sells a batch route', () => {
    const names = (s: string) => routersFor(SCENARIOS.find((x) => x.name === s)!).map((make) => make().name);
    expect(names('cloud-tiers')).toContain('batch-api');
    expect(names('steady')).not.toContain('batch-api');
  });
});
