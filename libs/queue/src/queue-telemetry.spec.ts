import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { SpanStatusCode } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { BullMQOtel } from 'bullmq-otel';
import { queueTelemetry, withoutMessages } from './queue-telemetry.js';

const CANARY = 'CANARY-JOB-ERROR-6d2f90';

describe("BullMQ's spans carry no error message", () => {
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

  it('is off (undefined: BullMQ adds nothing) while tracing has not been started', () => {
    expect(queueTelemetry()).toBeUndefined();
  });

  it("keeps a failed job's event and its attempts, drops its reason, and records the exception by kind", () => {
    const span = withoutMessages(new BullMQOtel({ tracerName: 'switchyard' }).tracer.startSpan('process q'));
    // What BullMQ's Worker does with a job that throws (worker.js: handleFailed, and its trace helper).
    span.addEvent('job failed', { 'bullmq.job.failed.reason': `the answer was ${CANARY}` });
    span.setAttributes({ 'bullmq.job.attempts.made': 1, 'bullmq.job.failed.reason': CANARY });
    span.setAttribute('bullmq.job.failed.reason', CANARY);
    span.recordException(Object.assign(new Error(`schema check: ${CANARY}`), { code: 'answers_rejected' }));
    span.recordException(`a message: ${CANARY}`);
    span.end();
    const [exported] = exporter.getFinishedSpans();
    expect(exported.events.map((e) => e.name)).toEqual(['job failed', 'exception', 'exception']);
    expect(exported.events[0].attributes).toEqual({});
    expect(exported.events[1].attributes).toMatchObject({ 'exception.type': 'answers_rejected' });
    expect(exported.attributes).toEqual({ 'bullmq.job.attempts.made': 1 });
    expect(exported.status.code).toBe(SpanStatusCode.ERROR);
    expect(JSON.stringify([exported.attributes, exported.events, exported.status, exported.name])).not.toContain(
      CANARY,
    );
  });

  it('passes everything else through: a completed job keeps its result event', () => {
    const span = withoutMessages(new BullMQOtel({ tracerName: 'switchyard' }).tracer.startSpan('process q'));
    span.addEvent('job completed', { 'bullmq.job.result': '{"outcome":"completed"}' });
    span.end();
    expect(exporter.getFinishedSpans()[0].events[0].attributes).toEqual({
      'bullmq.job.result': '{"outcome":"completed"}',
    });
  });
});
