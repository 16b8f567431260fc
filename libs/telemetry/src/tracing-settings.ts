import { ConfigError } from '#libs/domain';

/** The two names a Switchyard process reports as `service.name` unless OTEL_SERVICE_NAME says otherwise. */
export type ServiceName = 'switchyard-api' | 'switchyard-worker';

/**
 * Whether this process exports traces, read from the standard OpenTelemetry variables: on only when an
 * OTLP endpoint is given (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT), and then off
 * again for OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. Everything else (protocol, headers,
 * sampler, batch delays, resource attributes) is the SDK's to read, as its documentation says.
 */
export type TracingSettings =
  | { enabled: false }
  | {
      enabled: true;
      /** The variable that turned tracing on, and its value (an http(s) URL). */
      endpoint: { variable: string; url: string };
      serviceName: string;
    };

const ENDPOINT_VARIABLES = ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT'] as const;

export function tracingSettings(service: ServiceName, env: NodeJS.ProcessEnv = process.env): TracingSettings {
  const variable = ENDPOINT_VARIABLES.find((v) => (env[v] ?? '').trim() !== '');
  if (!variable) return { enabled: false };
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return { enabled: false };
  if ((env.OTEL_TRACES_EXPORTER ?? '').trim().toLowerCase() === 'none') return { enabled: false };
  const url = env[variable]!.trim();
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(variable, 'an http(s) URL of an OTLP receiver, e.g. http://otel-collector:4318', url);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new ConfigError(variable, 'an http(s) URL of an OTLP receiver, e.g. http://otel-collector:4318', url);
  const serviceName = (env.OTEL_SERVICE_NAME ?? '').trim() || service;
  return { enabled: true, endpoint: { variable, url }, serviceName };
}
