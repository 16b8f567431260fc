import { describe, expect, it } from '@jest/globals';
import { startTracing, tracingStarted } from './start-tracing.js';
import { tracingSettings } from './tracing-settings.js';

describe('tracingSettings: on only with an OTLP endpoint', () => {
  it('is off without an endpoint, whatever else is set', () => {
    expect(tracingSettings('switchyard-api', {})).toEqual({ enabled: false });
    expect(tracingSettings('switchyard-api', { OTEL_EXPORTER_OTLP_ENDPOINT: '  ', OTEL_SERVICE_NAME: 'x' })).toEqual({
      enabled: false,
    });
  });

  it('is on with OTEL_EXPORTER_OTLP_ENDPOINT or the traces-only endpoint, named for the app unless OTEL_SERVICE_NAME says', () => {
    expect(tracingSettings('switchyard-worker', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual({
      enabled: true,
      endpoint: { variable: 'OTEL_EXPORTER_OTLP_ENDPOINT', url: 'http://collector:4318' },
      serviceName: 'switchyard-worker',
    });
    expect(
      tracingSettings('switchyard-api', {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector/v1/traces',
        OTEL_SERVICE_NAME: 'yard-eu-api',
      }),
    ).toMatchObject({ enabled: true, serviceName: 'yard-eu-api' });
  });

  it('stays off when the SDK is disabled or the traces exporter is none', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    expect(tracingSettings('switchyard-api', { ...endpoint, OTEL_SDK_DISABLED: 'true' }).enabled).toBe(false);
    expect(tracingSettings('switchyard-api', { ...endpoint, OTEL_TRACES_EXPORTER: 'none' }).enabled).toBe(false);
  });

  it('names the variable of an endpoint that is not an http(s) URL', () => {
    expect(() => tracingSettings('switchyard-api', { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(
      /^OTEL_EXPORTER_OTLP_ENDPOINT: expected an http\(s\) URL/,
    );
    expect(() => tracingSettings('switchyard-api', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'not a url' })).toThrow(
      /^OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: /,
    );
  });

  it('startTracing starts nothing without an endpoint', async () => {
    expect(await startTracing('switchyard-api', {})).toBe(false);
    expect(tracingStarted()).toBe(false);
  });
});
