import { SpanStatusCode, type Context } from '@opentelemetry/api';
import type { Attributes, Exception, Span, Telemetry, Time } from 'bullmq';
import type { BullMQOTelSpan } from 'bullmq-otel';
import { createRequire } from 'node:module';
import { errorTypeOf, tracingStarted } from '#libs/telemetry';

/** BullMQ's attributes that hold what a job failed with: an item's error may quote its answer. */
const FAILED_REASON = 'bullmq.job.failed.reason';

/**
 * BullMQ's OpenTelemetry spans (bullmq-otel) for every Queue and Worker of this process: a producer span
 * when jobs are added, whose context travels in the job, and a consumer span for each attempt, its child
 * across processes. Undefined when tracing is off, so BullMQ adds no work at all.
 *
 * What BullMQ records of a failure — the error's message as an event attribute and an exception — is cut
 * to the error's kind: a job's error can quote an answer or a provider's reply (the item keeps it; a
 * trace store is not where it goes).
 */
export function queueTelemetry(): Telemetry<Context> | undefined {
  if (!tracingStarted()) return undefined;
  // Loaded here, not imported at the top: with tracing off the process loads nothing of it.
  const { BullMQOtel } = createRequire(import.meta.url)('bullmq-otel') as typeof import('bullmq-otel');
  const inner = new BullMQOtel({ tracerName: 'switchyard' });
  return {
    contextManager: inner.contextManager,
    tracer: { startSpan: (name, options, ctx) => withoutMessages(inner.tracer.startSpan(name, options, ctx)) },
  };
}

/** A BullMQ span whose events and exceptions carry no error message. Exported for its unit spec. */
export function withoutMessages(span: Span<Context>): Span<Context> {
  const otel = (span as BullMQOTelSpan).span;
  return {
    setSpanOnContext: (ctx) => span.setSpanOnContext(ctx),
    setAttribute: (key, value) => (key === FAILED_REASON ? undefined : span.setAttribute(key, value)),
    setAttributes: (attributes) => span.setAttributes(withoutReason(attributes)),
    addEvent: (name, attributes?: Attributes) => span.addEvent(name, attributes && withoutReason(attributes)),
    recordException: (exception: Exception, time?: Time) => {
      const type = typeof exception === 'string' ? 'Error' : errorTypeOf(exception);
      span.recordException({ name: type, message: type }, time);
      otel?.setStatus({ code: SpanStatusCode.ERROR, message: type });
    },
    end: () => span.end(),
  };
}

function withoutReason(attributes: Attributes): Attributes {
  if (!(FAILED_REASON in attributes)) return attributes;
  const { [FAILED_REASON]: _reason, ...rest } = attributes;
  return rest;
}
