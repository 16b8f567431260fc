// The face of libs/telemetry: what other libs, the apps and the tests use. Import it as '#libs/telemetry'.
// It loads the OpenTelemetry SDK only inside startTracing, and only when an OTLP endpoint is configured.
export { redactedQuery, redactedUrl, REDACTED } from './redacted-url.js';
export { startTracing, stopTracing, tracingStarted } from './start-tracing.js';
export {
  SpanAttr,
  errorTypeOf,
  recordBatch,
  recordFailure,
  recordModelAnswer,
  recordModelCallEnded,
  recordOutcome,
  recordRoute,
  traceEgressAudit,
  traceIntake,
  traceItemRun,
  traceModelCall,
  type BatchFields,
  type EgressFields,
  type IntakeFields,
  type ItemRunFields,
  type ModelAnswerFields,
  type ModelCallFields,
  type RouteFields,
} from './switchyard-spans.js';
export type { Span } from '@opentelemetry/api';
export { TelemetryModule } from './telemetry.module.js';
export { tracingSettings, type ServiceName, type TracingSettings } from './tracing-settings.js';
