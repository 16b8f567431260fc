import 'reflect-metadata';
import { exitOnFatalErrors, failStartup } from '#libs/logging';
import { startTracing } from '#libs/telemetry';

exitOnFatalErrors('api');
try {
  // OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT is set (nothing is loaded otherwise). The app is imported
  // only after it: the instrumentations patch http and ioredis as they are loaded.
  await startTracing('switchyard-api');
} catch (err) {
  failStartup('api', err);
}
await import('./api-process.js');
