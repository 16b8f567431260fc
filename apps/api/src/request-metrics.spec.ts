import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { metricsRegistry, resetMetrics } from '#libs/metrics';
import { requestMetrics } from './request-metrics.js';

describe('requestMetrics', () => {
  let server: Server;
  let base = '';

  beforeAll(async () => {
    const app = express();
    app.use(requestMetrics());
    app.get('/v1/batches/:id', (_req, res) => void res.json({ ok: true }));
    const board = express.Router();
    board.get('/api/queues', (_req, res) => void res.json([]));
    app.use('/admin/queues', board);
    await new Promise<void>((r) => (server = app.listen(0, '127.0.0.1', () => r())));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => resetMetrics());

  async function requests(): Promise<string[]> {
    const metric = await metricsRegistry.getSingleMetric('switchyard_http_requests_total')?.get();
    return (metric?.values ?? [])
      .map((v) => `${v.labels.method} ${v.labels.route} ${v.labels.status} ${v.value}`)
      .sort();
  }

  it('labels a request with its route pattern, never its path (which holds ids)', async () => {
    await fetch(`${base}/v1/batches/b-123`);
    await fetch(`${base}/v1/batches/b-456`);
    expect(await requests()).toEqual(['GET /v1/batches/:id 200 2']);
  });

  it('counts every Bull Board path as one route, and an unknown path as unmatched', async () => {
    await fetch(`${base}/admin/queues/api/queues`);
    await fetch(`${base}/nowhere/b-789`);
    expect(await requests()).toEqual(['GET /admin/queues 200 1', 'GET unmatched 404 1']);
  });
});
