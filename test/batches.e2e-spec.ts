import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { Queue } from 'bullmq';
import { JobName, RETENTION_QUEUE, bullPrefix, itemJobId, queueName, queueRefFor, type JobSpec } from '#libs/queue';
import { useSystem } from './support/use-system.js';

/**
 * The whole path on real parts: REST → Redis/BullMQ → the worker process → node-llama-cpp (generated
 * tiny model) or the openai SDK against the recording double.
 */
describe('batches end to end', () => {
  // ~1000 characters: a summary is expected at ~60 tokens, 3 s at the default local 20 tok/s.
  const longText = (tag: string) =>
    `${tag} ` + 'The quarterly report covers revenue, costs and hiring plans. '.repeat(16);
  const docBatch = (sensitivity: string, deadline: string, tag: string, n = 2) => ({
    kind: 'document-processing',
    sensitivity,
    deadline,
    task: { type: 'summarize' },
    items: Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, text: longText(`${tag}-${i}`) })),
  });

  const sys = useSystem(
    async ({ double }) => ({
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      LOCAL_TOKENS_PER_SEC: '20',
      MAX_OUTPUT_TOKENS: '64',
      MAX_BODY_BYTES: '65536',
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      OPENAI_MODEL: 'double-model',
      CLOUD_MAX_SENSITIVITY: 'internal',
      CLOUD_LATENCY_MS: '200',
      CLOUD_TOKENS_PER_SEC: '200',
      CLOUD_MAX_RETRIES: '1',
      JOB_ATTEMPTS: '2',
    }),
    { double: { apiKey: 'test-key' } },
  );

  // Runs first, before any local completion teaches the router how fast the tiny model really is.
  it('sends public items with a deadline local cannot meet to the cloud', async () => {
    const submitted = await sys.client.request('POST', '/v1/batches', docBatch('public', 'PT2S', 'pub'));
    expect(submitted.status).toBe(202);
    expect(submitted.json).toEqual({ id: expect.any(String), status: 'queued', total: 2 });
    const batch = await sys.client.waitFinished(submitted.json.id);
    expect(batch.status).toBe('completed');
    expect(batch.routes).toEqual({ local: 0, cloud: 2 });
    expect(batch.usage.inputTokens).toBeGreaterThan(0);
    expect(batch.cost.usd).toBeGreaterThan(0);
    const { json } = await sys.client.request('GET', `/v1/batches/${batch.id}/items`);
    for (const item of json.items) {
      expect(item.status).toBe('completed');
      expect(item.route).toMatchObject({ target: 'cloud', provider: 'frontier', model: 'double-model' });
      expect(item.costUsd).toBeGreaterThan(0);
    }
    const sent = sys.double.completionRequests().map((r) => JSON.stringify(r.body));
    expect(sent.filter((b) => b.includes('pub-0 ')).length).toBe(1);
    expect(sent.filter((b) => b.includes('pub-1 ')).length).toBe(1);
  });

  it('falls back to the local model when the cloud provider keeps failing, and records both routes', async () => {
    sys.double.failNext(8, { status: 503 }); // 2 items × 2 BullMQ attempts × (1 try + 1 client retry)
    const submitted = await sys.client.request('POST', '/v1/batches', docBatch('public', 'PT2S', 'outage'));
    const batch = await sys.client.waitFinished(submitted.json.id);
    expect(batch.status).toBe('completed');
    expect(batch.routes).toEqual({ local: 2, cloud: 0 });
    const { json } = await sys.client.request('GET', `/v1/batches/${batch.id}/items`);
    for (const item of json.items) {
      expect(item.routeHistory.map((r: any) => r.target)).toEqual(['cloud', 'local']);
      expect(item.route.reason).toMatch(/^frontier failed: .*HTTP 503/);
      expect(item.usage.outputTokens).toBeGreaterThan(0);
    }
    expect(sys.double.completionRequests().filter((r) => JSON.stringify(r.body).includes('outage-0 ')).length).toBe(4);
    sys.double.reset();
  });

  it('treats a "public" item holding personal data at the raised sensitivity, and records only the categories', async () => {
    // 4111 1111 1111 1111 passes Luhn; a card number makes the item confidential, above the cloud's clearance.
    const body = {
      kind: 'document-processing',
      sensitivity: 'public',
      deadline: 'PT2S',
      task: { type: 'summarize' },
      items: [
        { id: 'card', text: longText('card') + ' Paid with card 4111 1111 1111 1111.' },
        { id: 'plain', text: longText('plain') },
      ],
    };
    const submitted = await sys.client.request('POST', '/v1/batches', body);
    await sys.client.waitFinished(submitted.json.id);
    const { json } = await sys.client.request('GET', `/v1/batches/${submitted.json.id}/items`);
    const [card, plain] = json.items;
    expect(card).toMatchObject({
      sensitivity: 'confidential',
      pii: { declared: 'public', categories: ['card'], raised: true },
      route: { target: 'local' },
    });
    expect(card.route.reason).toMatch(/^personal data \(card\) raised sensitivity to confidential/);
    expect(plain).toMatchObject({ sensitivity: 'public', pii: { raised: false } });
    expect(JSON.stringify(json)).not.toContain('4111');
    expect(sys.double.requests.some((r) => JSON.stringify(r.body ?? '').includes('4111 1111'))).toBe(false);
  });

  it('completes restricted items locally and never sends them to the cloud, even with a deadline local cannot meet', async () => {
    const before = sys.double.requests.length;
    // 1 ms: no provider can meet it, however fast the local model has measured.
    const submitted = await sys.client.request('POST', '/v1/batches', docBatch('restricted', 'PT0.001S', 'secret', 3));
    const batch = await sys.client.waitFinished(submitted.json.id);
    expect(batch.status).toBe('completed');
    expect(batch.routes).toEqual({ local: 3, cloud: 0 });
    const { json } = await sys.client.request('GET', `/v1/batches/${batch.id}/items`);
    for (const item of json.items) {
      expect(item.route.target).toBe('local');
      expect(item.route.reason).toMatch(/at-risk/);
      expect(item.usage.outputTokens).toBeGreaterThan(0);
      expect(item.usage.outputTokens).toBeLessThanOrEqual(64);
      expect(typeof item.result).toBe('string');
    }
    expect(sys.double.requests.length).toBe(before);
    expect(sys.double.requests.some((r) => JSON.stringify(r.body ?? '').includes('secret-'))).toBe(false);
  });

  it('refuses, in the cloud adapter itself, a restricted item that reached the cloud queue by mistake', async () => {
    // Bypass the routing policy: write the record and the job by hand, as a bug or a tampered job would.
    const { store, jobs } = sys.internals();
    const route = {
      target: 'cloud' as const,
      provider: 'frontier',
      model: 'double-model',
      reason: 'forced by test',
      at: new Date().toISOString(),
    };
    const { id } = await store.create(
      {
        kind: 'document-processing',
        sensitivity: 'restricted',
        deadlineAt: Date.now() + 60_000,
        task: { type: 'summarize' },
        createdAt: Date.now(),
      },
      [
        {
          itemId: 'leak-0',
          route,
          workTokens: 10,
          sensitivity: 'restricted',
          pii: { declared: 'restricted', categories: [], raised: false },
        },
      ],
    );
    const job: JobSpec = {
      name: JobName.RunItem,
      jobId: itemJobId(id, 0),
      data: {
        batchId: id,
        index: 0,
        itemId: 'leak-0',
        kind: 'document-processing',
        sensitivity: 'restricted',
        deadline: Date.now() + 60_000,
        input: 'leak-0 payroll of the board',
      },
    };
    await jobs.enqueue(queueRefFor('cloud', 'frontier'), [job]);
    const batch = await sys.client.waitFinished(id);
    expect(batch.status).toBe('completed');
    const { json } = await sys.client.request('GET', `/v1/batches/${id}/items`);
    expect(json.items[0].routeHistory.map((r: any) => r.target)).toEqual(['cloud', 'local']);
    expect(json.items[0].route.reason).toMatch(/cleared up to "internal" and refuses an item marked "restricted"/);
    expect(sys.double.requests.some((r) => JSON.stringify(r.body ?? '').includes('payroll'))).toBe(false);
  });

  it('runs items with a lax deadline locally', async () => {
    const before = sys.double.requests.length;
    const submitted = await sys.client.request('POST', '/v1/batches', docBatch('public', 'P1D', 'lax'));
    const batch = await sys.client.waitFinished(submitted.json.id);
    expect(batch).toMatchObject({
      status: 'completed',
      routes: { local: 2, cloud: 0 },
      counts: { total: 2, completed: 2 },
    });
    expect(batch.cost.usd).toBeGreaterThan(0);
    expect(sys.double.requests.length).toBe(before);
  });

  it("fails a migrated file that never parses, with the checker's reason, when no cleared provider can take it", async () => {
    // Confidential: above the cloud's clearance, so the random-weight local model's answers are all there is.
    const submitted = await sys.client.request('POST', '/v1/batches', {
      kind: 'code-migration',
      sensitivity: 'confidential',
      deadline: 'P1D',
      task: { instruction: 'Convert CommonJS to ES modules', maxTokens: 16 },
      items: [{ path: 'src/a.js', content: "const x = require('x');\nmodule.exports = x;\n" }],
    });
    const batch = await sys.client.waitFinished(submitted.json.id);
    expect(batch.status).toBe('failed');
    const { json } = await sys.client.request('GET', `/v1/batches/${batch.id}/items`);
    // The random model never ends a turn: cut off at 16 tokens, asked once more with 32, cut off again.
    const cutOff = 'the answer was cut off at the output token limit (32 tokens)';
    // Nowhere else to go (no cloud cleared): the error says so after the checker's reason.
    expect(json.items[0].error).toBe(
      `${cutOff}, again after the limit was raised from 16 tokens; no other cleared provider can take it`,
    );
    expect(json.items[0].usage.outputTokens).toBe(16 + 32);
    expect(json.items[0].routeHistory).toHaveLength(1);
  });

  describe('bad input', () => {
    it.each([
      ['kind', { kind: 'nope' }],
      ['sensitivity', { ...docBatch('public', 'P1D', 'x'), sensitivity: 'top-secret' }],
      ['deadline', { ...docBatch('public', 'yesterday', 'x') }],
      ['items[0].text', { ...docBatch('public', 'P1D', 'x'), items: [{ id: 'a' }] }],
      ['task.labels', { ...docBatch('public', 'P1D', 'x'), task: { type: 'classify' } }],
    ])('answers 400 naming %s when it is wrong', async (field, body) => {
      const res = await sys.client.request('POST', '/v1/batches', body);
      expect(res.status).toBe(400);
      expect(res.json.field).toBe(field);
      expect(res.json.message).toContain(field);
    });

    it('answers 400 for malformed JSON and keeps serving', async () => {
      const res = await sys.client.request('POST', '/v1/batches', '{"kind": ');
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ field: 'body', message: 'body is not valid JSON' });
      // Valid JSON, but not an object: said so, not called invalid.
      for (const body of ['null', '"text"', '3'])
        expect((await sys.client.request('POST', '/v1/batches', body)).json).toMatchObject({
          field: 'body',
          message: 'body must be a JSON object',
        });
      expect((await sys.client.request('GET', '/health')).status).toBe(200);
    });

    it('answers 413 for a body over the configured size', async () => {
      const res = await sys.client.request('POST', '/v1/batches', docBatch('public', 'P1D', 'big'.repeat(30_000)));
      expect(res.status).toBe(413);
      expect(res.json.field).toBe('body');
    });

    it('answers a body that is not sent as JSON with 415 naming Content-Type', async () => {
      const body = JSON.stringify(docBatch('public', 'P1D', 'typed'));
      for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
        const res = await sys.client.request('POST', '/v1/batches', body, { 'content-type': type });
        expect([type, res.status, res.json.field, res.json.message]).toEqual([
          type,
          415,
          'Content-Type',
          `Content-Type must be application/json, not ${type}`,
        ]);
      }
      const openai = await sys.client.request('POST', '/openai/v1/batches', '{}', { 'content-type': 'text/plain' });
      expect(openai.status).toBe(415);
      expect(openai.json.error).toMatchObject({ param: 'Content-Type', type: 'invalid_request_error' });
      // The upload is the one multipart route; a multipart body anywhere else is refused like any other.
      const form = await sys.client.request('POST', '/v1/batches', '--x--\r\n', {
        'content-type': 'multipart/form-data; boundary=x',
      });
      expect(form.status).toBe(415);
    });

    it('answers 404 for an unknown batch, and 400 for a bad page parameter', async () => {
      expect((await sys.client.request('GET', '/v1/batches/does-not-exist')).status).toBe(404);
      expect((await sys.client.request('DELETE', '/v1/batches/does-not-exist')).status).toBe(404);
      // Ids are Redis hash tags: one holding a brace cannot be a key, and answered 500 on every route.
      for (const path of ['%7Bx%7D', '%7Bx', 'x%7D/items', '%7Bx%7D/results', '%7Bx%7D/patch', '%7Bx%7D/events']) {
        const res = await sys.client.request('GET', `/v1/batches/${path}`);
        expect([path, res.status, res.json?.message]).toEqual([path, 404, expect.stringContaining('not found')]);
      }
      expect((await sys.client.request('DELETE', '/v1/batches/%7Bx%7D')).status).toBe(404);
      const listed = await sys.client.request('GET', '/v1/batches?limit=0');
      expect(listed.status).toBe(400);
      expect(listed.json.field).toBe('limit');
      // Found by the chaos fuzz: a cursor that is not a timestamp reached Redis as NaN and answered 500.
      const badCursor = await sys.client.request('GET', '/v1/batches?before=not-a-date');
      expect(badCursor.status).toBe(400);
      expect(badCursor.json.field).toBe('before');
    });
  });

  it('returns the same batch for a repeated Idempotency-Key', async () => {
    const headers = { 'idempotency-key': `k-${Date.now()}` };
    const a = await sys.client.request('POST', '/v1/batches', docBatch('internal', 'P1D', 'idem'), headers);
    const b = await sys.client.request('POST', '/v1/batches', docBatch('internal', 'P1D', 'idem'), headers);
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.json.id).toBe(a.json.id);
    await sys.client.waitFinished(a.json.id);
    const { json } = await sys.client.request('GET', `/v1/batches/${a.json.id}/items`);
    expect(json.items).toHaveLength(2);
    // A retry answers the batch as it is now, not as if just queued.
    const c = await sys.client.request('POST', '/v1/batches', docBatch('internal', 'P1D', 'idem'), headers);
    expect([c.status, c.json.id, c.json.status]).toEqual([202, a.json.id, 'completed']);
  });

  it('answers a retry with its batch even once its absolute deadline has passed', async () => {
    const headers = { 'idempotency-key': `late-${Date.now()}` };
    const body = docBatch('public', new Date(Date.now() + 1_500).toISOString(), 'late', 1);
    const first = await sys.client.request('POST', '/v1/batches', body, headers);
    expect(first.status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    // The same body under another key is refused now: its deadline is in the past.
    const fresh = await sys.client.request('POST', '/v1/batches', body, { 'idempotency-key': `other-${Date.now()}` });
    expect([fresh.status, fresh.json.field]).toEqual([400, 'deadline']);
    const retried = await sys.client.request('POST', '/v1/batches', body, headers);
    expect([retried.status, retried.json.id]).toEqual([202, first.json.id]);
  });

  it('pages items, streams results as NDJSON and lists batches', async () => {
    const submitted = await sys.client.request('POST', '/v1/batches', docBatch('internal', 'P1D', 'page', 5));
    await sys.client.waitFinished(submitted.json.id);
    const page1 = await sys.client.request('GET', `/v1/batches/${submitted.json.id}/items?limit=2`);
    expect(page1.json.items).toHaveLength(2);
    expect(page1.json.nextOffset).toBe(2);
    const last = await sys.client.request('GET', `/v1/batches/${submitted.json.id}/items?offset=4&limit=2`);
    expect(last.json.items.map((i: any) => i.id)).toEqual(['page-4']);
    expect(last.json.nextOffset).toBeNull();
    const results = await sys.client.request('GET', `/v1/batches/${submitted.json.id}/results`);
    expect(results.headers.get('content-type')).toContain('application/x-ndjson');
    const lines = results.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id)).toEqual(['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
    expect(lines.every((l) => l.status === 'completed' && l.route.target === 'local')).toBe(true);
    const list = await sys.client.request('GET', '/v1/batches?limit=3');
    expect(list.json.batches[0].id).toBe(submitted.json.id);
  });

  it('cancels what has not started, and the worker never runs a cancelled item', async () => {
    const submitted = await sys.client.request('POST', '/v1/batches', docBatch('restricted', 'P1D', 'cancel', 30));
    const res = await sys.client.request('DELETE', `/v1/batches/${submitted.json.id}`);
    expect(res.status).toBe(200);
    expect(res.json.cancelled).toBeGreaterThan(0);
    const batch = await sys.client.waitFinished(submitted.json.id);
    expect(batch.counts.completed + batch.counts.cancelled).toBe(30);
    expect(['cancelled', 'partial']).toContain(batch.status);
    const { json } = await sys.client.request('GET', `/v1/batches/${submitted.json.id}/items?limit=100`);
    const cancelled = json.items.filter((i: any) => i.status === 'cancelled');
    // Queued items are cancelled by the DELETE and never start; so are those a worker took while the DELETE went
    // through them (the worker finds the batch being cancelled and cancels the item instead of starting it). An
    // item already running when it came (the machine may be slow) is aborted by the worker's cancel poll, and says so.
    const neverStarted = cancelled.filter((i: any) => i.attempts === 0);
    expect(neverStarted.length).toBeGreaterThanOrEqual(res.json.cancelled);
    for (const item of cancelled) {
      expect(item.result).toBeNull();
      expect(item.error).toBe(item.attempts > 0 ? 'cancelled while running' : 'cancelled before it started');
    }
  });

  it('reports health, readiness with the consuming pools, and Bull Board with every queue', async () => {
    expect((await sys.client.request('GET', '/health')).json).toEqual({ status: 'ok' });
    const ready = await sys.client.request('GET', '/ready');
    expect(ready.json.status).toBe('ready');
    expect(ready.json.pools.map((p: any) => p.target).sort()).toEqual(['cloud', 'local']);
    const board = await sys.client.request('GET', '/admin/queues');
    expect(board.status).toBe(200);
    const queues = await sys.client.request('GET', '/admin/queues/api/queues');
    expect(queues.json.queues.map((q: any) => q.name).sort()).toEqual([
      'callbacks.deliveries',
      'inference-cloud.frontier',
      'inference-local.tiny',
      'maintenance.intake',
      'maintenance.outputs',
      'maintenance.retention',
      'maintenance.schedules',
      'maintenance.sweeps',
    ]);
    // Its jobs show which item they are and how it is routed, never the text they carry to the model.
    const seen = await sys.client.request(
      'GET',
      '/admin/queues/api/queues?activeQueue=inference-local.tiny&status=completed&page=1&jobsPerPage=50',
    );
    const local = seen.json.queues.find((q: any) => q.name === 'inference-local.tiny');
    expect(local.jobs.length).toBeGreaterThan(0);
    for (const job of local.jobs)
      expect(job.data).toMatchObject({
        batchId: expect.any(String),
        deadline: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        input: expect.stringMatching(/^\(not shown: \d+/),
      });
    expect(seen.text).not.toContain('quarterly report');
    expect(seen.text).not.toContain('require(');
    // Watching only: nothing there moves a job behind the system's back (a removed job would strand its item).
    expect(queues.json.queues.every((q: any) => q.readOnlyMode === true)).toBe(true);
    for (const [method, path] of [
      ['PUT', '/admin/queues/api/queues/inference-local.tiny/pause'],
      ['PUT', '/admin/queues/api/queues/inference-local.tiny/clean/completed'],
      ['PUT', '/admin/queues/api/queues/maintenance.schedules/obliterate'],
    ] as const)
      expect([path, (await sys.client.request(method, path, {})).status]).toEqual([path, 405]);
  });

  it('shows a queue as rate limited in Bull Board only while it is held back', async () => {
    const batch = await sys.client.waitFinished(
      (await sys.client.request('POST', '/v1/batches', docBatch('restricted', 'P1D', 'board', 1))).json.id,
    );
    expect(batch.routes).toEqual({ local: 1, cloud: 0 });
    const { config } = sys.internals();
    const queue = (name: string) =>
      new Queue(name, { connection: { url: sys.env.REDIS_URL! }, prefix: bullPrefix(config.prefix) });
    const local = queue(queueName(queueRefFor('local', 'tiny')));
    const retention = queue(queueName(RETENTION_QUEUE));
    try {
      // The local queue just ran a job: its workers' limiter counts it for a minute, far below its limit.
      expect(await local.getRateLimitTtl()).toBeGreaterThan(0);
      const board = async () =>
        new Map<string, number>(
          (await sys.client.request('GET', '/admin/queues/api/queues')).json.queues.map((q: any) => [
            q.name,
            q.activeRateLimitTtl,
          ]),
        );
      expect([...(await board())].filter(([, ttl]) => ttl !== 0)).toEqual([]);
      // A wait a worker sets (a provider's token quota: worker.rateLimit) is shown, and for that queue only.
      await retention.rateLimit(60_000);
      const held = await board();
      expect(held.get('maintenance.retention')).toBeGreaterThan(0);
      expect(held.get('inference-local.tiny')).toBe(0);
    } finally {
      await retention.removeRateLimitKey();
      await Promise.all([local.close(), retention.close()]);
    }
  });

  it('never writes item text to the logs', () => {
    const logs = sys.api.output.join('') + sys.worker.output.join('');
    expect(logs).toContain('item completed');
    expect(logs).not.toContain('quarterly report');
    expect(logs).not.toContain('require(');
  });
});
