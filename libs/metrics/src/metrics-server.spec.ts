import { afterEach, describe, expect, it } from '@jest/globals';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import { metricsText, onScrape } from './metrics-registry.js';
import { metrics } from './switchyard-metrics.js';

describe('the metrics server (the worker has no other HTTP server)', () => {
  let server: MetricsServer | undefined;
  afterEach(async () => server?.close());

  it('serves GET /metrics in Prometheus text format on loopback, and nothing else', async () => {
    server = await startMetricsServer('127.0.0.1', 0);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    metrics.budgetRefused('frontier');
    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await res.text()).toContain('switchyard_budget_refusals_total{provider="frontier"} 1');
    expect((await fetch(server.url.replace('/metrics', '/'))).status).toBe(404);
    expect((await fetch(server.url, { method: 'POST' })).status).toBe(405);
  });

  it('refreshes gauges before each scrape; a refresher that throws is counted and the scrape still answers', async () => {
    let scrapes = 0;
    const stopCounting = onScrape(() => void (scrapes += 1));
    const stopFailing = onScrape(() => Promise.reject(new Error('redis down')));
    const text = await metricsText();
    expect(scrapes).toBe(1);
    expect(text).toContain('switchyard_metrics_refresh_failures_total 1');
    stopCounting();
    stopFailing();
    await metricsText();
    expect(scrapes).toBe(1);
  });

  it('drops the gauges of a refresher that fails or is late, rather than report what it read before', async () => {
    let dropped = 0;
    const stopFailing = onScrape(
      () => Promise.reject(new Error('redis down')),
      () => void (dropped += 1),
    );
    const stopHanging = onScrape(
      () => new Promise<void>(() => undefined),
      () => void (dropped += 1),
    );
    const stopWorking = onScrape(
      () => undefined,
      () => void (dropped += 100),
    );
    await metricsText(50);
    stopFailing();
    stopHanging();
    stopWorking();
    expect(dropped).toBe(2);
  });

  it('answers without a refresher that never ends (Redis reconnecting), counting it as failed', async () => {
    const before = /switchyard_metrics_refresh_failures_total (\d+)/.exec(await metricsText())![1];
    const stopHanging = onScrape(() => new Promise<void>(() => undefined));
    const text = await metricsText(50);
    stopHanging();
    expect(text).toContain(`switchyard_metrics_refresh_failures_total ${Number(before) + 1}`);
  });
});
