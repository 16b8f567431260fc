import { beforeEach, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { SwitchyardMetrics } from './switchyard-metrics.js';

/** The value of one series of `name` in the registry's text output (undefined when the series is absent). */
async function sample(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const text = await registry.metrics();
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const found = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (
      Object.entries(labels).every(([k, v]) => found[k] === v) &&
      Object.keys(found).length === Object.keys(labels).length
    )
      return Number(m[3]);
  }
  return undefined;
}

describe('SwitchyardMetrics', () => {
  let registry: Registry;
  let metrics: SwitchyardMetrics;
  const frontier = { target: 'cloud' as const, provider: 'frontier', model: 'gpt-x' };

  beforeEach(() => {
    registry = new Registry();
    metrics = new SwitchyardMetrics(registry);
  });

  it('counts an item run by route and outcome, with its duration and how long it queued', async () => {
    metrics.itemRan(frontier, {
      outcome: 'completed',
      enqueuedAt: 1000,
      startedAt: 4000,
      finishedAt: 6500,
      deadline: 60_000,
    });
    const route = { target: 'cloud', provider: 'frontier' };
    expect(await sample(registry, 'switchyard_item_runs_total', { ...frontier, outcome: 'completed' })).toBe(1);
    expect(await sample(registry, 'switchyard_item_run_duration_seconds_sum', { ...route, outcome: 'completed' })).toBe(
      2.5,
    );
    expect(await sample(registry, 'switchyard_item_queue_wait_seconds_sum', route)).toBe(3);
    expect(await sample(registry, 'switchyard_item_deadline_slack_seconds_sum', route)).toBe(53.5);
    expect(await sample(registry, 'switchyard_item_deadline_missed_total', route)).toBeUndefined();
  });

  it('counts a completed item finished after its deadline as missed, with negative slack', async () => {
    metrics.itemRan(frontier, {
      outcome: 'completed',
      enqueuedAt: 0,
      startedAt: 0,
      finishedAt: 12_000,
      deadline: 2000,
    });
    const route = { target: 'cloud', provider: 'frontier' };
    expect(await sample(registry, 'switchyard_item_deadline_missed_total', route)).toBe(1);
    expect(await sample(registry, 'switchyard_item_deadline_slack_seconds_sum', route)).toBe(-10);
    expect(await sample(registry, 'switchyard_item_deadline_slack_seconds_bucket', { ...route, le: '-10' })).toBe(1);
    // Ten hours late is told from one hour late, and six days early from one day early.
    for (const [finishedAt, deadline] of [
      [36_000_000, 0],
      [0, 518_400_000],
    ])
      metrics.itemRan(frontier, { outcome: 'completed', enqueuedAt: 0, startedAt: 0, finishedAt, deadline });
    expect(await sample(registry, 'switchyard_item_deadline_slack_seconds_bucket', { ...route, le: '-21600' })).toBe(1);
    expect(await sample(registry, 'switchyard_item_deadline_slack_seconds_bucket', { ...route, le: '-3600' })).toBe(1);
    expect(await sample(registry, 'switchyard_item_deadline_slack_seconds_bucket', { ...route, le: '86400' })).toBe(2);
    expect(await sample(registry, 'switchyard_item_deadline_slack_seconds_bucket', { ...route, le: '604800' })).toBe(3);
  });

  it('measures no deadline on a run that did not end the item (rerouted, retrying)', async () => {
    for (const outcome of ['rerouted', 'retrying', 'rate-limited'])
      metrics.itemRan(frontier, { outcome, enqueuedAt: 0, startedAt: 0, finishedAt: 9000, deadline: 1000 });
    const route = { target: 'cloud', provider: 'frontier' };
    expect(await sample(registry, 'switchyard_item_deadline_slack_seconds_count', route)).toBeUndefined();
    expect(await sample(registry, 'switchyard_item_deadline_missed_total', route)).toBeUndefined();
    expect(await sample(registry, 'switchyard_item_runs_total', { ...frontier, outcome: 'rerouted' })).toBe(1);
  });

  it('counts reroutes, parks, escalations and deferrals by provider', async () => {
    const local = { target: 'local' as const, provider: 'llama' };
    const cloud = { target: 'cloud' as const, provider: 'frontier' };
    metrics.itemRerouted(local, cloud, false);
    metrics.itemRerouted(local, cloud, true);
    // A route as intake holds it: its reason and time must not become labels.
    const route = { ...cloud, model: 'gpt-x', reason: 'cheapest on time', at: '2026-01-01T00:00:00Z' };
    metrics.itemRouted(route, true);
    metrics.itemEscalated('llama', 'frontier', 'deadline');
    metrics.itemDeferred('llama');
    const move = { from_target: 'local', from_provider: 'llama', to_target: 'cloud', to_provider: 'frontier' };
    expect(await sample(registry, 'switchyard_item_reroutes_total', move)).toBe(2);
    expect(await sample(registry, 'switchyard_item_parks_total', cloud)).toBe(2);
    expect(await sample(registry, 'switchyard_items_routed_total', { ...cloud, model: 'gpt-x' })).toBe(1);
    const escalation = { from_provider: 'llama', to_provider: 'frontier', reason: 'deadline' };
    expect(await sample(registry, 'switchyard_item_escalations_total', escalation)).toBe(1);
    expect(await sample(registry, 'switchyard_item_deferrals_total', { provider: 'llama' })).toBe(1);
  });

  it('adds tokens and cost of answered calls, and counts failures and refusals by code', async () => {
    const cloud = { target: 'cloud' as const, provider: 'frontier' };
    metrics.callAnswered(cloud, { inputTokens: 100, outputTokens: 20 }, 0.25);
    metrics.callAnswered(cloud, { inputTokens: 50, outputTokens: 10 }, 0.5);
    metrics.callFailed(cloud, 'server_error', false);
    metrics.callFailed(cloud, 'context_exceeded', true);
    expect(await sample(registry, 'switchyard_provider_input_tokens_total', cloud)).toBe(150);
    expect(await sample(registry, 'switchyard_provider_output_tokens_total', cloud)).toBe(30);
    expect(await sample(registry, 'switchyard_provider_cost_usd_total', cloud)).toBe(0.75);
    expect(await sample(registry, 'switchyard_provider_call_errors_total', { ...cloud, code: 'server_error' })).toBe(1);
    expect(
      await sample(registry, 'switchyard_provider_refusals_total', { ...cloud, code: 'server_error' }),
    ).toBeUndefined();
    expect(await sample(registry, 'switchyard_provider_refusals_total', { ...cloud, code: 'context_exceeded' })).toBe(
      1,
    );
  });

  it('counts budget refusals and quota waits with the time waited', async () => {
    metrics.budgetRefused('frontier');
    metrics.quotaWaited('frontier', 1500);
    metrics.quotaWaited('frontier', 500);
    expect(await sample(registry, 'switchyard_budget_refusals_total', { provider: 'frontier' })).toBe(1);
    expect(await sample(registry, 'switchyard_quota_waits_total', { provider: 'frontier' })).toBe(2);
    expect(await sample(registry, 'switchyard_quota_wait_seconds_total', { provider: 'frontier' })).toBe(2);
  });

  it("reports a pool's sequences, status and memory, replaces a changed status, and drops a stopped pool", async () => {
    const pool = {
      target: 'local' as const,
      provider: 'llama',
      model: 'llama',
      device: 'cuda',
      status: 'consuming',
      sequences: 8,
      activeSequences: 6,
      busy: 2,
      memory: { totalBytes: 24e9, freeBytes: 3e9 },
    };
    metrics.poolReported(pool);
    const labels = { target: 'local', provider: 'llama', model: 'llama' };
    expect(await sample(registry, 'switchyard_pool_sequences_max', labels)).toBe(8);
    expect(await sample(registry, 'switchyard_pool_sequences_active', labels)).toBe(6);
    expect(await sample(registry, 'switchyard_pool_sequences_busy', labels)).toBe(2);
    expect(await sample(registry, 'switchyard_device_memory_free_bytes', { provider: 'llama', device: 'cuda' })).toBe(
      3e9,
    );
    metrics.poolReported({ ...pool, status: 'does-not-fit' });
    const status = (s: string) => ({ target: 'local', provider: 'llama', status: s });
    expect(await sample(registry, 'switchyard_pool_status', status('consuming'))).toBeUndefined();
    expect(await sample(registry, 'switchyard_pool_status', status('does-not-fit'))).toBe(1);
    metrics.poolStopped(pool);
    expect(await sample(registry, 'switchyard_pool_sequences_max', labels)).toBeUndefined();
    expect(await sample(registry, 'switchyard_pool_status', status('does-not-fit'))).toBeUndefined();
    expect(
      await sample(registry, 'switchyard_device_memory_free_bytes', { provider: 'llama', device: 'cuda' }),
    ).toBeUndefined();
  });

  it('counts memory shrinks and grows of a pool, not a resize to the same size', async () => {
    metrics.poolResized('llama', 8, 6);
    metrics.poolResized('llama', 6, 6);
    metrics.poolResized('llama', 6, 7);
    expect(await sample(registry, 'switchyard_pool_memory_shrinks_total', { provider: 'llama' })).toBe(1);
    expect(await sample(registry, 'switchyard_pool_memory_grows_total', { provider: 'llama' })).toBe(1);
  });

  it('replaces the system state at each scrape: queues by state, circuits one-hot, live pools counted', async () => {
    metrics.systemState({
      queues: [{ queue: 'inference-local.llama', jobs: { waiting: 4, active: 2 } }],
      circuits: [{ provider: 'frontier', state: 'open' }],
      throughput: [{ target: 'local', provider: 'llama', tokensPerSec: 42 }],
      pools: [
        { target: 'local', provider: 'llama', status: 'consuming' },
        { target: 'local', provider: 'llama', status: 'consuming' },
      ],
    });
    expect(await sample(registry, 'switchyard_queue_jobs', { queue: 'inference-local.llama', state: 'waiting' })).toBe(
      4,
    );
    expect(await sample(registry, 'switchyard_circuit_state', { provider: 'frontier', state: 'open' })).toBe(1);
    expect(await sample(registry, 'switchyard_circuit_state', { provider: 'frontier', state: 'closed' })).toBe(0);
    expect(
      await sample(registry, 'switchyard_provider_measured_tokens_per_second', { target: 'local', provider: 'llama' }),
    ).toBe(42);
    expect(
      await sample(registry, 'switchyard_pools', { target: 'local', provider: 'llama', status: 'consuming' }),
    ).toBe(2);
    metrics.systemState({ queues: [], circuits: [], throughput: [], pools: [] });
    expect(
      await sample(registry, 'switchyard_queue_jobs', { queue: 'inference-local.llama', state: 'waiting' }),
    ).toBeUndefined();
    expect(
      await sample(registry, 'switchyard_pools', { target: 'local', provider: 'llama', status: 'consuming' }),
    ).toBeUndefined();
  });

  it('measures a finished batch: duration, slack and a missed deadline by status', async () => {
    metrics.batchFinished('completed', { createdAt: 0, finishedAt: 30_000, deadline: 60_000 });
    metrics.batchFinished('failed', { createdAt: 0, finishedAt: 90_000, deadline: 60_000 });
    expect(await sample(registry, 'switchyard_batches_finished_total', { status: 'completed' })).toBe(1);
    expect(await sample(registry, 'switchyard_batch_duration_seconds_sum', { status: 'completed' })).toBe(30);
    expect(await sample(registry, 'switchyard_batch_deadline_missed_total', { status: 'completed' })).toBeUndefined();
    expect(await sample(registry, 'switchyard_batch_deadline_missed_total', { status: 'failed' })).toBe(1);
    expect(await sample(registry, 'switchyard_batch_deadline_slack_seconds_sum', { status: 'failed' })).toBe(-30);
  });

  it('counts audit write failures by kind and API requests by route pattern and status', async () => {
    metrics.auditWriteFailed('egress');
    metrics.auditWriteFailed('route', 3);
    metrics.httpRequest('GET', '/v1/batches/:id', 200, 0.02);
    metrics.httpRequest('GET', '/v1/batches/:id', 200, 0.04);
    expect(await sample(registry, 'switchyard_audit_write_failures_total', { kind: 'route' })).toBe(3);
    const labels = { method: 'GET', route: '/v1/batches/:id', status: '200' };
    expect(await sample(registry, 'switchyard_http_requests_total', labels)).toBe(2);
    expect(await sample(registry, 'switchyard_http_request_duration_seconds_count', labels)).toBe(2);
    expect(await sample(registry, 'switchyard_http_request_duration_seconds_bucket', { ...labels, le: '0.025' })).toBe(
      1,
    );
  });

  it('follows Prometheus naming: counters end in _total, and no label could carry an id', () => {
    for (const metric of registry.getMetricsAsArray()) {
      const { name, type, labelNames } = metric as unknown as { name: string; type: string; labelNames: string[] };
      expect(name).toMatch(/^switchyard_[a-z_]+$/);
      if (type === 'counter') expect(name).toMatch(/_total$/);
      for (const label of labelNames) expect(label).not.toMatch(/id$|batch|item|tenant|key/);
    }
  });
});
