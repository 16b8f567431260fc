import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { useSystem } from './support/use-system.js';

/**
 * "model": "<local model>" promises that an item runs on that model only. No path may move it off: not its
 * rejected answers, not the deadline watchdog. A cloud double cleared for everything but restricted, and
 * cheaper than the local model, stands ready to take what leaks; it must receive nothing.
 */
const sources: Record<string, string> = {
  'src/math.js': 'const add = (a, b) => a + b;\nmodule.exports = { add };\n',
};

describe('pinned items stay on their model', () => {
  const sys = useSystem(
    async ({ double }) => ({
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      LOCAL_MODEL_NAME: 'tiny',
      // Believed 10x faster than it is: the watchdog finds pinned work late once the speed is measured.
      LOCAL_TOKENS_PER_SEC: '5000',
      LOCAL_SEQUENCES: '1',
      MAX_OUTPUT_TOKENS: '64',
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      CLOUD_MAX_SENSITIVITY: 'confidential',
      CLOUD_PRICE_INPUT_PER_M: '0',
      CLOUD_PRICE_OUTPUT_PER_M: '0',
      ESCALATION_INTERVAL_MS: '300',
    }),
    { double: { apiKey: 'test-key' } },
  );

  it('a pinned confidential migration whose local answers keep failing fails there, naming the pin, and nothing leaves', async () => {
    const { status, json } = await sys.client.request('POST', '/v1/batches', {
      kind: 'code-migration',
      sensitivity: 'confidential',
      deadline: 'P1D',
      model: 'tiny',
      task: { instruction: 'Convert CommonJS to ES modules', maxTokens: 64 },
      items: Object.entries(sources).map(([path, content]) => ({ path, content })),
    });
    expect(status).toBe(202);
    const batch = await sys.client.waitFinished(json.id);
    expect(batch.status).toBe('failed');
    const [item] = (await sys.client.request('GET', `/v1/batches/${json.id}/items`)).json.items;
    expect(item.routeHistory.map((r: any) => `${r.target}:${r.provider}`)).toEqual(['local:tiny']);
    expect(item.error).toMatch(/pinned to local model tiny/);
    expect(sys.double.completionRequests()).toHaveLength(0);
  });

  it('pinned public items the watchdog finds late stay queued on their model and complete there', async () => {
    const { status, json } = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'public',
      deadline: 'PT2S',
      model: 'tiny',
      task: { type: 'summarize', maxTokens: 64 },
      items: Array.from({ length: 6 }, (_, i) => ({
        id: `late-${i}`,
        text: `late-${i}: the quarterly report covers revenue and costs.`,
      })),
    });
    expect(status).toBe(202);
    const batch = await sys.client.waitFinished(json.id);
    expect(batch.status).toBe('completed');
    const { items } = (await sys.client.request('GET', `/v1/batches/${json.id}/items`)).json;
    for (const item of items)
      expect(item.routeHistory.map((r: any) => `${r.target}:${r.provider}`)).toEqual(['local:tiny']);
    expect(sys.double.completionRequests()).toHaveLength(0);
  });
});
