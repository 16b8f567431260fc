import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { OtlpReceiver, SpanKindCode, type ReceivedSpan } from './support/otlp-receiver.js';
import { useSystem } from './support/use-system.js';

/** Strings that must reach no span: item text, the answer, the API key, the provider key, a query value. */
const CANARIES = {
  itemText: 'CANARY-TRACE-TEXT-5e21c9',
  answer: 'CANARY-TRACE-ANSWER-0b7f44',
  apiKey: 'sk-CANARY-TRACE-ADMIN-KEY-93d1e0aa',
  providerKey: 'sk-CANARY-TRACE-PROVIDER-KEY-7a6c12',
  query: 'CANARY-TRACE-QUERY-4f08bd',
};

/**
 * Traces on real processes: the API and a worker export OTLP/JSON to a receiver in this test. One trace
 * runs from `POST /v1/batches` through intake, BullMQ's producer and consumer spans, the worker's item run,
 * to each model call — a cloud one (the OpenAI double, over undici) and a local one (node-llama-cpp) — with
 * token counts, and with no item text, answer or key anywhere in what was exported.
 */
describe('OpenTelemetry traces (OTEL_EXPORTER_OTLP_ENDPOINT set)', () => {
  let receiver: OtlpReceiver;
  /** The batch's callback receiver: answers every delivery 200. */
  let hooks: Server;
  let hookUrl: string;
  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    hooks = createServer((req, res) => req.resume().on('end', () => res.writeHead(200).end()));
    await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`;
  });

  const sys = useSystem(
    async ({ double }) => ({
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      LOCAL_TOKENS_PER_SEC: '20',
      MAX_OUTPUT_TOKENS: '24',
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: CANARIES.providerKey,
      CLOUD_MAX_SENSITIVITY: 'internal',
      CLOUD_LATENCY_MS: '200',
      CLOUD_TOKENS_PER_SEC: '200',
      ADMIN_API_KEY: CANARIES.apiKey,
      CALLBACK_ALLOWED_NETWORKS: '127.0.0.1/32',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      // Spans leave within 100 ms of ending: the test waits on what arrives, not on a sleep.
      OTEL_BSP_SCHEDULE_DELAY: '100',
    }),
    { double: { apiKey: CANARIES.providerKey } },
  );

  afterAll(async () => {
    await receiver.close();
    hooks.closeAllConnections();
    await new Promise((resolve) => hooks.close(resolve));
  });

  const prose = `${CANARIES.itemText} The quarterly report covers revenue, costs and hiring plans.`;

  /** The chain of spans from `span` up to its trace's root, as far as the receiver has them. */
  function ancestry(spans: ReceivedSpan[], span: ReceivedSpan): ReceivedSpan[] {
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const chain = [span];
    for (let s = span; s.parentSpanId && byId.has(s.parentSpanId);) chain.push((s = byId.get(s.parentSpanId)!));
    return chain;
  }

  async function submit(requestId: string, body: unknown): Promise<string> {
    const admin = sys.client.withKey(CANARIES.apiKey);
    const res = await admin.request('POST', '/v1/batches', body, { 'x-request-id': requestId });
    expect(res.status).toBe(202);
    const id = res.json.id as string;
    await admin.waitFinished(id, 90_000);
    return id;
  }

  /**
   * Waits for the whole path of one submission's trace and returns its spans: the API's server span named
   * for its route, intake, BullMQ's producer span, the worker's consumer span, the item run and a model
   * call with token counts, each below the one before.
   */
  async function tracedPath(requestId: string, system: string) {
    return receiver.waitFor((spans) => {
      const server = spans.find(
        (s) =>
          s.service === 'switchyard-api' &&
          s.kind === SpanKindCode.server &&
          s.attributes['switchyard.request_id'] === requestId,
      );
      if (!server) return undefined;
      const trace = spans.filter((s) => s.traceId === server.traceId);
      const call = trace.find(
        (s) =>
          s.attributes['gen_ai.provider.name'] === system && s.attributes['gen_ai.usage.output_tokens'] !== undefined,
      );
      if (!call) return undefined;
      const chain = ancestry(trace, call);
      if (chain.at(-1) !== server) return undefined; // a link of the chain has not arrived yet
      return { server, trace, call, chain };
    }, 60_000);
  }

  it('links POST /v1/batches to a cloud call and to its callback in one trace across both processes, with token counts', async () => {
    const requestId = 'trace-cloud-req-1';
    sys.double.setResponder(() => `Summary: ${CANARIES.answer}.`);
    const batchId = await submit(requestId, {
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline: 'PT1S', // local (20 tok/s assumed) cannot answer in time; the cloud can
      task: { type: 'summarize', maxTokens: 16 },
      items: [{ id: 'doc-1', text: prose }],
      // A signed URL's secret in its query: the delivery's span keeps the parameter's name only.
      callback: { url: `${hookUrl}?token=${CANARIES.query}`, events: ['batch.finished'] },
    });
    const { server, trace, call, chain } = await tracedPath(requestId, 'openai');

    expect(server.name).toBe('POST /v1/batches');
    expect(server.attributes['http.route']).toBe('/v1/batches');
    const names = chain.map((s) => `${s.service}:${s.name}`).reverse();
    // Root first: the API's request, intake, BullMQ's add, then the worker's job, its item run, the call.
    expect(names[0]).toBe('switchyard-api:POST /v1/batches');
    expect(names).toContain('switchyard-api:switchyard.intake');
    const producer = chain.find((s) => s.kind === SpanKindCode.producer);
    const consumer = chain.find((s) => s.kind === SpanKindCode.consumer);
    expect(producer).toMatchObject({ service: 'switchyard-api' });
    expect(consumer).toMatchObject({ service: 'switchyard-worker' });
    const item = chain.find((s) => s.name === 'switchyard.item')!;
    expect(item).toMatchObject({ service: 'switchyard-worker' });
    expect(item.attributes).toMatchObject({
      'switchyard.batch.id': batchId,
      'switchyard.item.index': 0,
      'switchyard.request_id': requestId,
      'switchyard.target': 'cloud',
      'switchyard.outcome': 'completed',
    });
    expect(chain.indexOf(call)).toBe(0);
    expect(call.attributes).toMatchObject({ 'gen_ai.operation.name': 'chat', 'switchyard.target': 'cloud' });
    expect(call.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(call.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);

    const intake = chain.find((s) => s.name === 'switchyard.intake')!;
    expect(intake.attributes).toMatchObject({
      'switchyard.batch.id': batchId,
      'switchyard.batch.kind': 'document-processing',
      'switchyard.batch.items': 1,
    });
    expect(intake.events.find((e) => e.name === 'switchyard.route')?.attributes).toMatchObject({
      'switchyard.item.index': 0,
      'switchyard.target': 'cloud',
    });
    // Below the call: the audited egress and the HTTP request to the provider (undici, the openai SDK's fetch).
    const below = trace.filter((s) => ancestry(trace, s).includes(call) && s !== call);
    expect(below.map((s) => s.name)).toContain('switchyard.audit.egress');
    expect(
      below.some((s) => s.kind === SpanKindCode.client && String(s.attributes['url.full']).startsWith(sys.double.url)),
    ).toBe(true);
    // Redis commands of the request and of the job are in the trace too (ioredis), by name only.
    expect(trace.some((s) => s.service === 'switchyard-api' && s.attributes['db.system.name'] === 'redis')).toBe(true);
    expect(trace.some((s) => s.service === 'switchyard-worker' && s.attributes['db.system.name'] === 'redis')).toBe(
      true,
    );
    // The batch's callback, queued when its last item finished, is delivered in the same trace: the callbacks
    // queue's consumer span (it ends after the request it made, so it is waited for too), then node:http.
    const delivery = await receiver.waitFor((spans) => {
      const request = spans.find(
        (s) =>
          s.traceId === server.traceId &&
          s.kind === SpanKindCode.client &&
          String(s.attributes['url.full']).startsWith(hookUrl),
      );
      const consumed = request
        ? ancestry(spans, request).find(
            (s) => s.kind === SpanKindCode.consumer && s.attributes['bullmq.queue.name'] === 'callbacks.deliveries',
          )
        : undefined;
      return consumed && { request, chain: ancestry(spans, request!) };
    }, 30_000);
    expect(delivery.request!.attributes['url.full']).toBe(`${hookUrl}?token=REDACTED`);
    expect(delivery.chain.at(-1)).toBe(server);
  });

  it('links POST /v1/batches to a local call (node-llama-cpp) in one trace', async () => {
    const requestId = 'trace-local-req-1';
    await submit(requestId, {
      kind: 'document-processing',
      sensitivity: 'restricted', // never the cloud
      deadline: 'P1D',
      task: { type: 'summarize', maxTokens: 8 },
      items: [{ id: 'doc-2', text: prose }],
    });
    const { call, chain } = await tracedPath(requestId, 'llama.cpp');
    expect(chain.some((s) => s.kind === SpanKindCode.consumer && s.service === 'switchyard-worker')).toBe(true);
    expect(call.attributes['switchyard.target']).toBe('local');
    expect(call.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
  });

  it('exports no item text, answer, key or query value anywhere: names, attributes, events, resources', async () => {
    // A query string holding a secret, with the API key as credentials: the server span keeps the parameter's name only.
    const admin = sys.client.withKey(CANARIES.apiKey);
    const res = await admin.request('GET', `/v1/batches?token=${CANARIES.query}`, undefined, {
      'x-request-id': 'trace-query-req-1',
    });
    expect(res.status).toBeLessThan(500);
    const server = await receiver.waitFor(
      (spans) => spans.find((s) => s.attributes['switchyard.request_id'] === 'trace-query-req-1'),
      30_000,
    );
    expect(server.attributes['url.query']).toBe('token=REDACTED');
    // The answers held the canary, so it was in the system: it must not have left it through a span.
    expect(sys.double.completionRequests().some((r) => JSON.stringify(r.body).includes(CANARIES.itemText))).toBe(true);
    const everything = receiver.bodies().join('\n');
    expect(everything.length).toBeGreaterThan(0);
    for (const [kind, canary] of Object.entries(CANARIES))
      expect({ kind, found: everything.includes(canary) }).toEqual({ kind, found: false });
  });
});
