/**
 * The OpenTelemetry SDK and its instrumentations. Imported only by startTracing, and only when tracing is
 * on: with no OTLP endpoint none of this (nor the loader hook) is loaded.
 */
import type { IncomingMessage, RequestOptions, ServerResponse } from 'node:http';
import { register } from 'node:module';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { PROBE_ROUTES } from '#libs/logging';
import type { Span } from '@opentelemetry/api';
import { redactedQuery, redactedUrl } from './redacted-url.js';
import { SpanAttr } from './switchyard-spans.js';

/** Probes and scrapes, every few seconds from every orchestrator: noise in a trace store, not requests. */
const UNTRACED_PATHS = PROBE_ROUTES;

export interface TracingSdk {
  shutdown(): Promise<void>;
}

/**
 * Registers the ESM loader hook (import-in-the-middle), then starts the SDK with the HTTP, ioredis and
 * undici instrumentations. The modules they patch are ESM imports here (`import 'ioredis'`, `node:http`),
 * which only the loader hook can wrap: it must run before the app's own imports, hence main.ts imports the
 * app after startTracing. `include` limits the wrapping to those modules; every other import loads as is.
 * Exporter, protocol, sampler and batch settings come from the standard OTEL_* variables (NodeSDK).
 */
export function startTracingSdk(serviceName: string): TracingSdk {
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, {
    data: { include: ['ioredis', 'http', 'https'] },
  });
  const sdk = new NodeSDK({
    serviceName,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => req.method === 'GET' && UNTRACED_PATHS.has(pathOf(req.url)),
        startIncomingSpanHook: (req) => {
          const search = searchOf(req.url);
          return search ? { 'url.query': redactedQuery(search) } : {};
        },
        startOutgoingSpanHook: (opts) => ({ 'url.full': redactedUrl(outgoingUrl(opts)) }),
        applyCustomAttributesOnSpan: (span, req, res) => {
          if (isServerResponse(res)) nameServerSpan(span, req as IncomingMessage, res);
        },
      }),
      new IORedisInstrumentation({
        // BullMQ polls Redis all the time: only commands made inside a traced operation become spans.
        requireParentSpan: true,
        // The command's name only: its arguments are job payloads, item text and answers.
        dbStatementSerializer: (command) => command,
      }),
      new UndiciInstrumentation({
        startSpanHook: (request) => {
          const full = `${request.origin}${request.path}`;
          const search = searchOf(request.path);
          return {
            'url.full': redactedUrl(full),
            ...(search ? { 'url.query': redactedQuery(search) } : {}),
          };
        },
      }),
    ],
    // Metrics are Prometheus's (GET /metrics) and logs are JSON lines: OTLP carries traces only.
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}

/**
 * The server span's name and route as Express matched it (`POST /v1/batches/:id`, not the URL with its
 * ids), and the request's id as the access log wrote it (the X-Request-Id the API answered with).
 */
function nameServerSpan(span: Span, req: IncomingMessage, res: ServerResponse): void {
  const requestId = res.getHeader('x-request-id');
  if (typeof requestId === 'string') span.setAttribute(SpanAttr.requestId, requestId);
  const matched = req as IncomingMessage & { route?: { path?: unknown }; baseUrl?: string };
  if (typeof matched.route?.path !== 'string') return;
  const route = `${matched.baseUrl ?? ''}${matched.route.path}`;
  span.setAttribute('http.route', route);
  span.updateName(`${req.method ?? 'GET'} ${route}`);
}

function isServerResponse(res: unknown): res is ServerResponse {
  return typeof (res as ServerResponse).getHeader === 'function';
}

function pathOf(url: string | undefined): string {
  return (url ?? '/').split('?', 1)[0];
}

function searchOf(url: string | undefined): string {
  const at = (url ?? '').indexOf('?');
  return at < 0 ? '' : (url ?? '').slice(at);
}

function outgoingUrl(opts: RequestOptions): string {
  const protocol = opts.protocol ?? 'http:';
  const host = opts.hostname ?? opts.host ?? 'localhost';
  const port = opts.port ? `:${opts.port}` : '';
  return `${protocol}//${host}${port}${opts.path ?? '/'}`;
}
