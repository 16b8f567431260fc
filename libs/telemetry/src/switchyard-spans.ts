import { SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';

/**
 * Switchyard's own spans: intake, each item's run, each provider call, each audited egress. They carry ids,
 * routes, token counts and costs — never item text, prompts, answers, error messages or keys: every
 * attribute a caller can set is one of the typed fields below, and an error is recorded by its kind only.
 * With tracing off the API's no-op tracer makes every call here a few property reads.
 */
const tracer = trace.getTracer('switchyard');

/** Attribute names: OpenTelemetry's semantic conventions where one exists (gen_ai.*), `switchyard.*` otherwise. */
export const SpanAttr = {
  requestId: 'switchyard.request_id',
  batchId: 'switchyard.batch.id',
  batchKind: 'switchyard.batch.kind',
  batchItems: 'switchyard.batch.items',
  batchCreated: 'switchyard.batch.created',
  itemIndex: 'switchyard.item.index',
  itemCall: 'switchyard.item.call',
  jobAttempt: 'switchyard.job.attempt',
  target: 'switchyard.target',
  provider: 'switchyard.provider',
  model: 'switchyard.model',
  routeReason: 'switchyard.route.reason',
  routeAtRisk: 'switchyard.route.at_risk',
  routeParkMs: 'switchyard.route.park_ms',
  costUsd: 'switchyard.cost_usd',
  outcome: 'switchyard.outcome',
  egressAttempt: 'switchyard.egress.attempt',
  sensitivity: 'switchyard.sensitivity',
  clearance: 'switchyard.clearance',
  genAiOperation: 'gen_ai.operation.name',
  genAiProvider: 'gen_ai.provider.name',
  /** Deprecated in semantic conventions 1.37 for gen_ai.provider.name; many backends still read it. */
  genAiSystem: 'gen_ai.system',
  genAiRequestModel: 'gen_ai.request.model',
  genAiRequestMaxTokens: 'gen_ai.request.max_tokens',
  genAiResponseModel: 'gen_ai.response.model',
  genAiFinishReasons: 'gen_ai.response.finish_reasons',
  genAiInputTokens: 'gen_ai.usage.input_tokens',
  genAiOutputTokens: 'gen_ai.usage.output_tokens',
  errorType: 'error.type',
} as const;

type Value = string | number | boolean | string[] | undefined;

/** Only defined values: an attribute left out reads better than one set to "undefined". */
function defined(attributes: Record<string, Value>): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(attributes)) if (v !== undefined) out[k] = v;
  return out;
}

/** The error's kind, never its message (a checker's message may quote an answer, a provider's may echo a prompt). */
export function errorTypeOf(err: unknown): string {
  if (err && typeof err === 'object') {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && /^[\w.-]{1,64}$/.test(code)) return code;
    const name = (err as { name?: unknown }).name;
    if (typeof name === 'string' && /^[\w.-]{1,64}$/.test(name)) return name;
  }
  return 'Error';
}

/** Marks the span failed with the error's kind only. */
export function recordFailure(span: Span, err: unknown): void {
  const type = errorTypeOf(err);
  span.setAttribute(SpanAttr.errorType, type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}

/** Runs `fn` inside a new active span that ends with it; a throw marks it failed (by kind) and is rethrown. */
async function inSpan<T>(
  name: string,
  kind: SpanKind,
  attributes: Record<string, Value>,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { kind, attributes: defined(attributes) }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      recordFailure(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

export interface IntakeFields {
  requestId?: string;
}

/** One submission's intake: checks, routing, store, audit, enqueue. `recordBatch` fills in what it became. */
export function traceIntake<T>(fields: IntakeFields, fn: (span: Span) => Promise<T>): Promise<T> {
  return inSpan('switchyard.intake', SpanKind.INTERNAL, { [SpanAttr.requestId]: fields.requestId }, fn);
}

export interface BatchFields {
  batchId: string;
  kind: string;
  items: number;
  /** False when an Idempotency-Key named a batch already accepted. */
  created: boolean;
}

export function recordBatch(span: Span, b: BatchFields): void {
  span.setAttributes({
    [SpanAttr.batchId]: b.batchId,
    [SpanAttr.batchKind]: b.kind,
    [SpanAttr.batchItems]: b.items,
    [SpanAttr.batchCreated]: b.created,
  });
}

export interface RouteFields {
  index: number;
  target: string;
  provider: string;
  model: string;
  /** The router's own words (providers, estimates, deadlines): never the item's. */
  reason: string;
  atRisk?: boolean;
  parkMs?: number;
}

/**
 * One routing decision, as an event on the intake span. A batch of thousands of items is capped by the
 * SDK's OTEL_SPAN_EVENT_COUNT_LIMIT (128 by default), the rest counted as dropped.
 */
export function recordRoute(span: Span, r: RouteFields): void {
  span.addEvent(
    'switchyard.route',
    defined({
      [SpanAttr.itemIndex]: r.index,
      [SpanAttr.target]: r.target,
      [SpanAttr.provider]: r.provider,
      [SpanAttr.model]: r.model,
      [SpanAttr.routeReason]: r.reason,
      [SpanAttr.routeAtRisk]: r.atRisk,
      [SpanAttr.routeParkMs]: r.parkMs,
    }),
  );
}

export interface ItemRunFields {
  batchId: string;
  index: number;
  requestId?: string;
  target: string;
  provider: string;
  jobAttempt: number;
}

/** One run of one item on one provider (one BullMQ job attempt), around all its calls. */
export function traceItemRun<T>(f: ItemRunFields, fn: (span: Span) => Promise<T>): Promise<T> {
  return inSpan(
    'switchyard.item',
    SpanKind.INTERNAL,
    {
      [SpanAttr.batchId]: f.batchId,
      [SpanAttr.itemIndex]: f.index,
      [SpanAttr.requestId]: f.requestId,
      [SpanAttr.target]: f.target,
      [SpanAttr.provider]: f.provider,
      [SpanAttr.jobAttempt]: f.jobAttempt,
    },
    fn,
  );
}

/** How the item's run ended (ItemOutcome's kind). */
export function recordOutcome(span: Span, outcome: string): void {
  span.setAttribute(SpanAttr.outcome, outcome);
}

export interface ModelCallFields extends ItemRunFields {
  /** The engine behind the call, as gen_ai.provider.name: `openai` (OpenAI-compatible API), `llama.cpp`. */
  system: string;
  model: string;
  /** 1 for the item's first call on this provider; a long item makes many. */
  call: number;
  maxTokens: number;
}

/** One model call: a chat completion on a cloud API or the local engine (semantic conventions' `chat {model}`). */
export function traceModelCall<T>(f: ModelCallFields, fn: (span: Span) => Promise<T>): Promise<T> {
  return inSpan(
    `chat ${f.model}`,
    f.target === 'cloud' ? SpanKind.CLIENT : SpanKind.INTERNAL,
    {
      [SpanAttr.genAiOperation]: 'chat',
      [SpanAttr.genAiProvider]: f.system,
      [SpanAttr.genAiSystem]: f.system,
      [SpanAttr.genAiRequestModel]: f.model,
      [SpanAttr.genAiRequestMaxTokens]: f.maxTokens,
      [SpanAttr.batchId]: f.batchId,
      [SpanAttr.itemIndex]: f.index,
      [SpanAttr.requestId]: f.requestId,
      [SpanAttr.target]: f.target,
      [SpanAttr.provider]: f.provider,
      [SpanAttr.jobAttempt]: f.jobAttempt,
      [SpanAttr.itemCall]: f.call,
    },
    fn,
  );
}

export interface ModelAnswerFields {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  responseModel: string;
  finishReason: string;
}

export function recordModelAnswer(span: Span, a: ModelAnswerFields): void {
  span.setAttributes({
    [SpanAttr.genAiInputTokens]: a.inputTokens,
    [SpanAttr.genAiOutputTokens]: a.outputTokens,
    [SpanAttr.costUsd]: a.costUsd,
    [SpanAttr.genAiResponseModel]: a.responseModel,
    [SpanAttr.genAiFinishReasons]: [a.finishReason],
    [SpanAttr.outcome]: 'answered',
  });
}

/** A call that ended the item's run without an answer (refused, cancelled, failed): its outcome and error kind. */
export function recordModelCallEnded(span: Span, outcome: string, err?: unknown): void {
  span.setAttribute(SpanAttr.outcome, outcome);
  if (err !== undefined) recordFailure(span, err);
}

export interface EgressFields {
  kind: 'egress' | 'egress-refused';
  batchId: string;
  index: number;
  provider: string;
  clearance: string;
  sensitivity: string;
  attempt?: number;
}

/** The audit write that must succeed before a request leaves for a cloud provider (or records its refusal). */
export function traceEgressAudit<T>(f: EgressFields, fn: () => Promise<T>): Promise<T> {
  return inSpan(
    `switchyard.audit.${f.kind}`,
    SpanKind.INTERNAL,
    {
      [SpanAttr.batchId]: f.batchId,
      [SpanAttr.itemIndex]: f.index,
      [SpanAttr.provider]: f.provider,
      [SpanAttr.clearance]: f.clearance,
      [SpanAttr.sensitivity]: f.sensitivity,
      [SpanAttr.egressAttempt]: f.attempt,
    },
    () => fn(),
  );
}
