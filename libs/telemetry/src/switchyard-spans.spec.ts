import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  errorTypeOf,
  recordBatch,
  recordModelAnswer,
  recordModelCallEnded,
  recordRoute,
  traceEgressAudit,
  traceIntake,
  traceItemRun,
  traceModelCall,
} from './switchyard-spans.js';

/** A secret that must never reach a span, in every place a careless helper might put it. */
const CANARY = 'CANARY-SPAN-HELPER-19ab3c';

class ProviderFailure extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ProviderFailure';
  }
}

describe("Switchyard's spans (in-memory exporter)", () => {
  const exporter = new InMemorySpanExporter();
  const sdk = new NodeSDK({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    instrumentations: [],
    metricReaders: [],
    logRecordProcessors: [],
    autoDetectResources: false,
  });
  beforeAll(() => sdk.start());
  afterAll(() => sdk.shutdown());
  beforeEach(() => exporter.reset());

  const run = {
    batchId: 'b-1',
    index: 3,
    requestId: 'req-7',
    target: 'cloud',
    provider: 'frontier',
    jobAttempt: 2,
  };

  it('nests intake, its routes and its batch; an item run, its model call and the egress audit', async () => {
    await traceIntake({ requestId: 'req-7' }, async (span) => {
      recordRoute(span, {
        index: 0,
        target: 'cloud',
        provider: 'frontier',
        model: 'gpt-4o-mini',
        reason: 'cheapest on time',
        parkMs: 500,
      });
      recordBatch(span, { batchId: 'b-1', kind: 'document-processing', items: 1, created: true });
    });
    await traceItemRun(run, () =>
      traceModelCall({ ...run, system: 'openai', model: 'gpt-4o-mini', call: 1, maxTokens: 64 }, async (span) => {
        await traceEgressAudit(
          {
            kind: 'egress',
            batchId: 'b-1',
            index: 3,
            provider: 'frontier',
            clearance: 'internal',
            sensitivity: 'public',
            attempt: 1,
          },
          async () => undefined,
        );
        recordModelAnswer(span, {
          inputTokens: 120,
          outputTokens: 30,
          costUsd: 0.0004,
          responseModel: 'gpt-4o-mini-2024',
          finishReason: 'stop',
        });
      }),
    );
    const spans = exporter.getFinishedSpans();
    const byName = new Map(spans.map((s) => [s.name, s]));
    const intake = byName.get('switchyard.intake')!;
    expect(intake.attributes).toEqual({
      'switchyard.request_id': 'req-7',
      'switchyard.batch.id': 'b-1',
      'switchyard.batch.kind': 'document-processing',
      'switchyard.batch.items': 1,
      'switchyard.batch.created': true,
    });
    expect(intake.events.map((e) => [e.name, e.attributes])).toEqual([
      [
        'switchyard.route',
        {
          'switchyard.item.index': 0,
          'switchyard.target': 'cloud',
          'switchyard.provider': 'frontier',
          'switchyard.model': 'gpt-4o-mini',
          'switchyard.route.reason': 'cheapest on time',
          'switchyard.route.park_ms': 500,
        },
      ],
    ]);
    const item = byName.get('switchyard.item')!;
    const call = byName.get('chat gpt-4o-mini')!;
    const egress = byName.get('switchyard.audit.egress')!;
    expect(call.parentSpanContext?.spanId).toBe(item.spanContext().spanId);
    expect(egress.parentSpanContext?.spanId).toBe(call.spanContext().spanId);
    expect(call.spanContext().traceId).toBe(item.spanContext().traceId);
    expect(call.kind).toBe(SpanKind.CLIENT);
    expect(call.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.system': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.request.max_tokens': 64,
      'gen_ai.response.model': 'gpt-4o-mini-2024',
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': 120,
      'gen_ai.usage.output_tokens': 30,
      'switchyard.cost_usd': 0.0004,
      'switchyard.request_id': 'req-7',
      'switchyard.job.attempt': 2,
      'switchyard.item.call': 1,
    });
    expect(egress.attributes).toMatchObject({ 'switchyard.egress.attempt': 1, 'switchyard.clearance': 'internal' });
  });

  it('a local call is an internal span: no request leaves the process', async () => {
    await traceModelCall(
      { ...run, target: 'local', provider: 'tiny', system: 'llama.cpp', model: 'tiny', call: 2, maxTokens: 8 },
      async () => undefined,
    );
    expect(exporter.getFinishedSpans()[0]).toMatchObject({ name: 'chat tiny', kind: SpanKind.INTERNAL });
  });

  it('leaves undefined fields out rather than recording "undefined"', async () => {
    await traceItemRun({ ...run, requestId: undefined }, async () => undefined);
    expect(Object.keys(exporter.getFinishedSpans()[0].attributes)).not.toContain('switchyard.request_id');
  });

  it("records a failure by the error's kind, never its message, and rethrows it", async () => {
    const err = new ProviderFailure(`the provider said: ${CANARY}`, 'server_error');
    await expect(traceItemRun(run, () => Promise.reject(err))).rejects.toBe(err);
    await traceModelCall({ ...run, system: 'openai', model: 'm', call: 1, maxTokens: 1 }, async (span) => {
      recordModelCallEnded(span, 'failed', new Error(`answer quoted: ${CANARY}`));
    });
    const [item, call] = exporter.getFinishedSpans();
    expect(item.status).toEqual({ code: SpanStatusCode.ERROR, message: 'server_error' });
    expect(item.attributes['error.type']).toBe('server_error');
    expect(call.attributes).toMatchObject({ 'switchyard.outcome': 'failed', 'error.type': 'Error' });
    expect(JSON.stringify(exporter.getFinishedSpans().map((s) => [s.attributes, s.events, s.status]))).not.toContain(
      CANARY,
    );
  });

  it('errorTypeOf keeps only short identifier-like codes and names', () => {
    expect(errorTypeOf(new ProviderFailure('x', 'rate_limited'))).toBe('rate_limited');
    expect(errorTypeOf(new ProviderFailure('x', `${CANARY} with spaces`))).toBe('ProviderFailure');
    expect(errorTypeOf(Object.assign(new Error('x'), { name: `a name ${CANARY}` }))).toBe('Error');
    expect(errorTypeOf('a thrown string')).toBe('Error');
  });
});
