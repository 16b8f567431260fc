import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { useSystem } from './support/use-system.js';

/**
 * What OpenAI-compatible servers other than OpenAI answer (vLLM, TGI, Together, Mistral, OpenRouter and the
 * proxies in front of them), through the built worker and the openai SDK inside it, on real Redis: an answer is
 * recorded with its text and what it cost, and its batch finishes. The cloud double is priced far below the local
 * model, so every item goes to it.
 */
const summarize = (id: string) => ({
  kind: 'document-processing',
  sensitivity: 'public',
  deadline: 'PT60S',
  task: { type: 'summarize' },
  items: [{ id, text: `${id}: the board met on Monday and approved the budget for the year.` }],
});

describe('OpenAI-compatible servers’ quirks, through the worker', () => {
  const sys = useSystem(
    async ({ double }) => ({
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      LOCAL_MODEL_NAME: 'tiny',
      LOCAL_PRICE_INPUT_PER_M: '5',
      LOCAL_PRICE_OUTPUT_PER_M: '50',
      CLOUD_PRICE_INPUT_PER_M: '1',
      CLOUD_PRICE_OUTPUT_PER_M: '1',
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      CLOUD_MAX_SENSITIVITY: 'internal',
      CLOUD_MAX_RETRIES: '0',
    }),
    { double: { apiKey: 'test-key' } },
  );

  const run = async (id: string) => {
    const { status, json } = await sys.client.request('POST', '/v1/batches', summarize(id));
    expect(status).toBe(202);
    const batch = await sys.client.waitFinished(json.id, 20_000);
    const [item] = (await sys.client.request('GET', `/v1/batches/${json.id}/items`)).json.items;
    return { batch, item };
  };

  it.each(['partial', 'sparse'] as const)(
    'a server that sends a usage count null or not at all (%s): the item completes at its estimated cost, flagged, and its batch finishes',
    async (usage) => {
      sys.double.setHabits({ usage });
      const { batch, item } = await run(`${usage}-usage`);
      expect(item).toMatchObject({ status: 'completed', route: { target: 'cloud' }, usageEstimated: true });
      expect(item.usage.inputTokens).toBeGreaterThan(0);
      expect(item.costUsd).toBeGreaterThan(0);
      expect(batch).toMatchObject({ status: 'completed', cost: { usd: item.costUsd } });
    },
  );

  it('a server that ends its answers "eos" and writes content in parts: the item completes with the text, in one call', async () => {
    sys.double.reset();
    sys.double.setHabits({ finishReason: 'eos', content: 'parts' });
    const { item } = await run('eos-parts');
    expect(item).toMatchObject({ status: 'completed', route: { target: 'cloud' }, usageEstimated: false });
    expect(item.result).toMatch(/^Deterministic answer/);
    expect(sys.double.completionRequests()).toHaveLength(1);
  });
});
