import { tracingSettings, type ServiceName } from './tracing-settings.js';
import type { TracingSdk } from './tracing-sdk.js';

let running: TracingSdk | undefined;

/**
 * Starts OpenTelemetry tracing for this process when an OTLP endpoint is configured (tracingSettings), and
 * does nothing — loads nothing — otherwise. Call it first in an app's main, before importing the app: the
 * instrumentations patch modules as they are loaded. Returns whether tracing is on. Throws a ConfigError
 * naming the variable for an endpoint that is not a URL.
 */
export async function startTracing(service: ServiceName, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const settings = tracingSettings(service, env);
  if (!settings.enabled || running) return settings.enabled;
  const { startTracingSdk } = await import('./tracing-sdk.js');
  running = startTracingSdk(settings.serviceName);
  return true;
}

/** Exports the spans still buffered and stops the SDK, within `timeoutMs`; nothing to do when tracing is off. */
export async function stopTracing(timeoutMs: number): Promise<void> {
  const sdk = running;
  if (!sdk) return;
  running = undefined;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    sdk.shutdown().catch(() => undefined),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
  ]);
  clearTimeout(timer);
}

/** Whether startTracing started the SDK in this process (other libs add their own telemetry only then). */
export function tracingStarted(): boolean {
  return running !== undefined;
}
