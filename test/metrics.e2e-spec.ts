import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import jsYaml from 'js-yaml';
import { ensureGeneratedModel } from '#libs/gguf';
import { fetchJson } from './support/fetch-json.js';
import { freePort, startTestRedis } from './support/redis-server-process.js';
import { ApiClient, startApp, systemEnv } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

const ADMIN_KEY = 'e2e-metrics-admin-secret-0123456789';
const DASHBOARD = resolve('deploy/observability/grafana-dashboard.json');
const ALERTS = resolve('deploy/observability/prometheus-alerts.yaml');

/** PromQL's own words: functions, aggregations, operators and modifiers, never metric names. */
const PROMQL_WORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression reads: strings, label matchers, ranges and grouping clauses taken out, then
 * every identifier that is not called as a function (`rate(`) nor one of PromQL's words.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = [...bare.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)].map((m) => m[1]);
  return names.filter((n) => !PROMQL_WORDS.has(n.toLowerCase()));
}

/** The metric families a /metrics text declares (`# TYPE name kind`), and the names its samples use. */
function exposition(text: string): { declared: Map<string, string>; sampled: Set<string> } {
  const declared = new Map<string, string>();
  const sampled = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) declared.set(type[1], type[2]);
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{|\s)/.exec(line);
    if (sample) sampled.add(sample[1]);
  }
  return { declared, sampled };
}

/** Whether `name` (as a query reads it: a histogram's `_bucket`, `_sum`, `_count` too) is a metric the text declares. */
function declares(declared: Map<string, string>, name: string): boolean {
  if (declared.has(name)) return true;
  const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
  return base !== undefined && ['histogram', 'summary'].includes(declared.get(base) ?? '');
}

/** Every PromQL expression in a Grafana dashboard, nested rows included. */
function dashboardExprs(dashboard: { panels?: unknown[] }): string[] {
  const exprs: string[] = [];
  const visit = (panel: any) => {
    for (const target of panel.targets ?? []) if (typeof target.expr === 'string') exprs.push(target.expr);
    for (const inner of panel.panels ?? []) visit(inner);
  };
  for (const panel of dashboard.panels ?? []) visit(panel);
  return exprs;
}

describe('metrics: /metrics on the API and the worker, the shipped dashboard and alert rules', () => {
  let workerMetricsUrl = '';
  const sys = useSystem(
    async ({ double }) => {
      const metricsPort = await freePort();
      workerMetricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
      return {
        ADMIN_API_KEY: ADMIN_KEY,
        METRICS_PORT: String(metricsPort),
        LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
        MAX_OUTPUT_TOKENS: '32',
        OPENAI_BASE_URL: double.url,
        OPENAI_API_KEY: 'test-key',
        OPENAI_MODEL: 'double-model',
        CLOUD_MAX_SENSITIVITY: 'internal',
        CLOUD_LATENCY_MS: '200',
        CLOUD_TOKENS_PER_SEC: '200',
      };
    },
    { double: { apiKey: 'test-key' } },
  );

  const admin = (): ApiClient => sys.client.withKey(ADMIN_KEY);
  const apiMetrics = async () => (await admin().request('GET', '/metrics')).text;
  const workerMetrics = async () => (await fetchJson(workerMetricsUrl)).text;

  /** Polls the worker's /metrics until `done` holds: the worker records an item's run just after the API shows it. */
  async function workerMetricsWhen(done: (text: string) => boolean, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = await workerMetrics();
      if (done(text)) return text;
      if (Date.now() > deadline) throw new Error(`worker metrics never matched:\n${text.slice(0, 4000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Submits one batch: one public item for the cloud, one holding a card number (confidential) for the local model. */
  let batchRun: Promise<{ api: string; worker: string }> | undefined;
  function runBatch(): Promise<{ api: string; worker: string }> {
    batchRun ??= (async () => {
      const body = {
        kind: 'document-processing',
        sensitivity: 'public',
        deadline: 'PT2S',
        task: { type: 'summarize' },
        items: [
          { id: 'metrics-item-7f3a', text: 'The board met on Monday and approved the budget for the next quarter.' },
          { id: 'card', text: 'Refund to card 4111 1111 1111 1111 was approved on Monday.' },
        ],
      };
      const submitted = await admin().request('POST', '/v1/batches', body);
      expect(submitted.status).toBe(202);
      const batch = await admin().waitFinished(submitted.json.id);
      expect(batch.routes).toEqual({ local: 1, cloud: 1 });
      // Both items' runs counted (each just after its transition) and the batch measured (just after the last).
      const completedRuns = (t: string) => t.match(/^switchyard_item_runs_total\{.*outcome="completed"\} 1$/gm) ?? [];
      const worker = await workerMetricsWhen(
        (t) => completedRuns(t).length === 2 && /^switchyard_batches_finished_total\{/m.test(t),
      );
      return { api: await apiMetrics(), worker };
    })();
    return batchRun;
  }

  it('the worker serves /metrics on METRICS_PORT, loopback only; the API does not bind that port', async () => {
    expect(workerMetricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    await sys.worker.waitForLog(/metrics listening/);
    const res = await fetchJson(workerMetricsUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sys.api.output.join('')).not.toMatch(/metrics listening/);
  });

  it('before anything happens, the counters the alerts read with increase() are at 0, so a first event is an increase', async () => {
    // increase() counts from a series' first sample: a counter exported only from its first event (three deadline
    // misses in one scrape interval, a first audit failure) adds nothing to it, and its alert stays silent.
    const zero = (series: string) => new RegExp(`^${series.replace(/[{}.]/g, '\\$&')} 0$`, 'm');
    const worker = await workerMetricsWhen((t) =>
      /^switchyard_item_deadline_missed_total\{target="local",provider="[\w-]+"\} 0$/m.test(t),
    );
    for (const series of [
      'switchyard_item_deadline_missed_total{target="cloud",provider="frontier"}',
      'switchyard_budget_refusals_total{provider="frontier"}',
      'switchyard_batch_deadline_missed_total{status="completed"}',
      'switchyard_batch_deadline_missed_total{status="partial"}',
      'switchyard_audit_write_failures_total{kind="egress"}',
    ])
      expect({ series, worker }).toEqual({ series, worker: expect.stringMatching(zero(series)) });
    const api = await apiMetrics();
    for (const series of [
      'switchyard_batch_deadline_missed_total{status="cancelled"}',
      'switchyard_audit_write_failures_total{kind="route"}',
    ])
      expect({ series, api }).toEqual({ series, api: expect.stringMatching(zero(series)) });
  });

  it('the API serves /metrics to a key with the metrics scope (or admin), and to no other', async () => {
    const created = await admin().request('POST', '/v1/keys', { name: 'prometheus', scopes: ['metrics'] });
    expect(created.status).toBe(201);
    const prometheus = sys.client.withKey(created.json.secret);
    const scraped = await prometheus.request('GET', '/metrics');
    expect(scraped.status).toBe(200);
    expect(scraped.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(scraped.text).toMatch(/^# TYPE switchyard_http_requests_total counter$/m);
    // The metrics key reads nothing else.
    expect((await prometheus.request('GET', '/v1/batches')).status).toBe(403);
    const reader = await admin().request('POST', '/v1/keys', { name: 'reader', scopes: ['read'] });
    expect((await sys.client.withKey(reader.json.secret).request('GET', '/metrics')).status).toBe(403);
    expect((await sys.client.request('GET', '/metrics')).status).toBe(401);
  });

  it('after a batch: items by route and outcome, tokens and cost by provider, pools, queues, requests by route pattern', async () => {
    const { api, worker } = await runBatch();
    expect(worker).toMatch(
      /^switchyard_item_runs_total\{target="cloud",provider="frontier",model="double-model",outcome="completed"\} 1$/m,
    );
    expect(worker).toMatch(
      /^switchyard_item_runs_total\{target="local",provider="[\w-]+",model="[\w-]+",outcome="completed"\} 1$/m,
    );
    expect(worker).toMatch(/^switchyard_provider_input_tokens_total\{target="cloud",provider="frontier"\} [1-9]/m);
    expect(worker).toMatch(/^switchyard_provider_cost_usd_total\{target="cloud",provider="frontier"\} 0\.\d*[1-9]/m);
    expect(worker).toMatch(/^switchyard_item_queue_wait_seconds_count\{target="cloud",provider="frontier"\} 1$/m);
    expect(worker).toMatch(/^switchyard_pool_sequences_max\{target="local",provider="[\w-]+",model="[\w-]+"\} [1-9]/m);
    expect(worker).toMatch(/^switchyard_batches_finished_total\{status="completed"\} 1$/m);
    expect(api).toMatch(
      /^switchyard_items_routed_total\{target="cloud",provider="frontier",model="double-model"\} 1$/m,
    );
    expect(api).toMatch(/^switchyard_queue_jobs\{queue="inference-cloud\.frontier",state="waiting"\} 0$/m);
    expect(api).toMatch(/^switchyard_circuit_state\{provider="frontier",state="closed"\} 1$/m);
    expect(api).toMatch(/^switchyard_pools\{target="local",provider="[\w-]+",status="consuming"\} 1$/m);
    expect(api).toMatch(/^switchyard_http_requests_total\{method="POST",route="\/v1\/batches",status="202"\} 1$/m);
    expect(api).toMatch(
      /^switchyard_http_requests_total\{method="GET",route="\/v1\/batches\/:id",status="200"\} \d+$/m,
    );
    // Low cardinality: no batch id, item id or key secret reaches a label.
    const { json } = await admin().request('GET', '/v1/batches');
    for (const batch of json.batches) expect(api + worker).not.toContain(batch.id);
    expect(api + worker).not.toContain('metrics-item-7f3a');
  });

  it('every metric the Grafana dashboard queries exists on the running API or worker', async () => {
    const { api, worker } = await runBatch();
    const { declared } = exposition(`${api}\n${worker}`);
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
    const names = [...new Set(dashboardExprs(dashboard).flatMap(metricNames))].sort();
    // The extraction found the dashboard's metrics (an empty list would pass anything).
    expect(names).toEqual(expect.arrayContaining(['switchyard_item_runs_total', 'switchyard_queue_jobs']));
    expect(names.length).toBeGreaterThan(30);
    expect(names.filter((n) => !declares(declared, n))).toEqual([]);
  });

  it('the alert rules parse, cover the required alerts, and read only metrics that exist', async () => {
    const { api, worker } = await runBatch();
    const { declared } = exposition(`${api}\n${worker}`);
    const rules = jsYaml.load(readFileSync(ALERTS, 'utf8')) as {
      groups: Array<{ name: string; rules: Array<{ alert: string; expr: string }> }>;
    };
    const all = rules.groups.flatMap((g) => g.rules);
    expect(all.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'SwitchyardBacklogGrowing',
        'SwitchyardDeadlinesMissed',
        'SwitchyardCircuitOpen',
        'SwitchyardBudgetReached',
        'SwitchyardNoPoolConsuming',
      ]),
    );
    for (const rule of all) {
      const names = metricNames(rule.expr);
      expect({ alert: rule.alert, names: names.length > 0 }).toEqual({ alert: rule.alert, names: true });
      expect({ alert: rule.alert, missing: names.filter((n) => !declares(declared, n)) }).toEqual({
        alert: rule.alert,
        missing: [],
      });
    }
  });
});

/**
 * A scrape answers through a Redis outage: the API's own metrics (requests, event loop) and the refresh failures
 * that say the shared state could not be read are what an operator needs then. The rate limit, read from Redis,
 * made every scrape with a key a 503 (and slower each time) for as long as Redis was down.
 */
describe('the API metrics during a Redis outage', () => {
  it('answers the scrape with the bootstrap key while Redis is down', async () => {
    const redis = await startTestRedis();
    const env = await systemEnv({
      REDIS_URL: redis.url,
      ADMIN_API_KEY: ADMIN_KEY,
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
    });
    const api = startApp('api', env);
    const client = new ApiClient(`http://127.0.0.1:${env.PORT}`).withKey(ADMIN_KEY);
    try {
      const queueDepth = /^switchyard_queue_jobs\{queue="maintenance\.sweeps",state="waiting"\} \d+$/m;
      for (let i = 0; ; i++) {
        const scraped = await client.request('GET', '/metrics').catch(() => null);
        if (scraped?.status === 200 && queueDepth.test(scraped.text)) break;
        if (i > 600) throw new Error(`the API did not serve /metrics: ${api.output.join('')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await redis.stop();
      for (let i = 0; i < 3; i++) {
        const scraped = await client.request('GET', '/metrics');
        expect(scraped.status).toBe(200);
        expect(scraped.text).toMatch(/^# TYPE switchyard_http_requests_total counter$/m);
        // The scrape says it could not read Redis, and reports none of what it holds rather than its last values
        // (with them, the pools read consuming through the outage and SwitchyardNoPoolConsuming never fired).
        expect(scraped.text).toMatch(new RegExp(`^switchyard_metrics_refresh_failures_total ${i + 1}$`, 'm'));
        expect(scraped.text).not.toMatch(/^switchyard_(queue_jobs|circuit_state|pools|provider_measured_\w+)\{/m);
      }
      // Anything else the key asks for still needs Redis, and says so.
      expect((await client.request('GET', '/v1/batches')).status).toBe(503);
    } finally {
      await api.stop();
      await redis.stop();
    }
  });
});
