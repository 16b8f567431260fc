import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { useSystem } from './support/use-system.js';

/**
 * A cloud provider's latency is measured from its calls (LatencyFit through the worker's PoolRegistry),
 * replacing a configured guess: the real worker and API, the openai SDK against the recording double.
 */
describe('cloud latency', () => {
  // Documents of different lengths, so the calls differ in size; due in 10 minutes, which the local pool
  // (configured at 0.01 tok/s) cannot meet and the cloud can.
  const docs = (tag: string, n = 10) => ({
    kind: 'document-processing',
    sensitivity: 'public',
    deadline: 'PT10M',
    task: { type: 'summarize' },
    items: Array.from({ length: n }, (_, i) => ({
      id: `${tag}-${i}`,
      text: `${tag}-${i}: ` + 'Quarterly figures and plans. '.repeat(1 + 8 * i),
    })),
  });

  const sys = useSystem(
    async ({ double }) => {
      double.setLatency(250);
      return {
        LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
        LOCAL_TOKENS_PER_SEC: '0.01',
        MAX_OUTPUT_TOKENS: '64',
        OPENAI_BASE_URL: double.url,
        OPENAI_API_KEY: 'test-key',
        OPENAI_MODEL: 'double-model',
        CLOUD_MAX_SENSITIVITY: 'internal',
        // A guess twenty times too long.
        CLOUD_LATENCY_MS: '5000',
        CLOUD_TOKENS_PER_SEC: '200',
      };
    },
    { double: { apiKey: 'test-key' } },
  );

  it('measures a provider’s latency from its calls and routes and quotes with it', async () => {
    const frontier = async () =>
      (await sys.client.request('GET', '/v1/providers')).json.providers.find(
        (p: { name: string }) => p.name === 'frontier',
      );
    expect(await frontier()).toMatchObject({ latencyMs: 5000, measured: null });
    const before = await sys.client.request('POST', '/v1/batches/quote', docs('quote'));

    const batch = await sys.client.waitFinished((await sys.client.request('POST', '/v1/batches', docs('run'))).json.id);
    expect(batch).toMatchObject({ status: 'completed', routes: { local: 0, cloud: 10 } });

    const measured = await frontier();
    expect(measured.measured).toMatchObject({ calls: 10 });
    // The double answers after 250 ms; the SDK, HTTP and the worker's own steps add a little.
    expect(measured.measured.latencyMs).toBeGreaterThanOrEqual(200);
    expect(measured.measured.latencyMs).toBeLessThan(1000);
    expect(measured.latencyMs).toBe(measured.measured.latencyMs);

    const after = await sys.client.request('POST', '/v1/batches/quote', docs('quote'));
    const finish = (q: { json: { estimatedFinishAt: string } }) => Date.parse(q.json.estimatedFinishAt);
    expect(finish(before) - finish(after)).toBeGreaterThan(3000);
  });
});
