import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { useSystem } from './support/use-system.js';

/**
 * A batch's maxCostUsd on real processes, against the recording OpenAI double priced as a cloud: what the
 * provider bills for the batch's calls never passes it, whatever its tokenizer counts.
 */
const chat = (tag: string, n: number, chars: number, maxTokens: number, extra: Record<string, unknown> = {}) => ({
  kind: 'chat',
  sensitivity: 'public',
  deadline: 'PT10M',
  items: Array.from({ length: n }, (_, i) => ({
    id: `${tag}-${i}`,
    body: { messages: [{ role: 'user', content: `${tag}-${i}: ` + 'x'.repeat(chars) }], max_tokens: maxTokens },
  })),
  ...extra,
});

describe('batch budgets', () => {
  const sys = useSystem(
    async ({ double }) => ({
      LOCAL_MODEL_PATH: await ensureGeneratedModel('small'),
      LOCAL_MODEL_NAME: 'small',
      LOCAL_SEQUENCES: '1',
      LOCAL_CONTEXT_SIZE: '2048',
      MAX_OUTPUT_TOKENS: '64',
      // Local capacity priced above the cloud: items go to the cloud until the budget sends them back.
      LOCAL_PRICE_INPUT_PER_M: '1000',
      LOCAL_PRICE_OUTPUT_PER_M: '1000',
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'k',
      OPENAI_MODEL: 'double-model',
      CLOUD_PRICE_INPUT_PER_M: '100',
      CLOUD_PRICE_OUTPUT_PER_M: '100',
      CLOUD_CONCURRENCY: '32',
      CLOUD_LATENCY_MS: '100',
      CLOUD_MAX_RETRIES: '0',
      JOB_ATTEMPTS: '1',
    }),
    // Two workers: each takes items at once, and the budget is one for both.
    { double: { apiKey: 'k' }, workers: 2 },
  );

  it('holds what a call can cost at most: a tokenizer counting a token a character (CJK, digits) cannot take the batch past its budget', async () => {
    const { client, double } = sys;
    double.reset();
    // Four times the tokens of ~4 characters a token, as a tokenizer reads Chinese text or long numbers.
    double.setHabits({ promptTokensScale: 4 });
    // Each call bills ~1,200 input tokens at $100/M, $0.12; estimated at 4 characters a token it looked like $0.03,
    // so a $0.2 budget let all six go at once and was passed almost four times.
    const maxCostUsd = 0.2;
    const submitted = await client.request('POST', '/v1/batches', chat('dense', 6, 1200, 16, { maxCostUsd }));
    expect(submitted.status).toBe(202);
    const batch = await client.waitFinished(submitted.json.id, 240_000);
    const items = (await client.request('GET', `/v1/batches/${submitted.json.id}/items`)).json.items;
    const cloud = items.filter((i: any) => i.route.target === 'cloud');
    const billed = cloud.reduce((sum: number, i: any) => sum + i.costUsd, 0);
    expect(cloud.length).toBeGreaterThanOrEqual(1);
    expect(double.completionRequests()).toHaveLength(cloud.length);
    expect(billed).toBeLessThanOrEqual(maxCostUsd);
    expect(batch.budget.reached).toBe(true);
    const local = items.filter((i: any) => i.route.target === 'local');
    expect(local.length).toBe(items.length - cloud.length);
    expect(local.every((i: any) => i.status === 'completed' && /batch budget reached/.test(i.route.reason))).toBe(true);
  }, 300_000);

  it('quotes the split the budget leaves: the cloud items it can pay for, the rest on the local model', async () => {
    const { client, double } = sys;
    double.reset();
    // A call is estimated at ~$0.045 and holds ~$0.05 while it runs: a $0.06 budget pays for one of six.
    const body = chat('quoted', 6, 400, 16, { maxCostUsd: 0.06 });
    const quote = await client.request('POST', '/v1/batches/quote', body);
    expect(quote.status).toBe(200);
    expect(quote.json.routes).toEqual({ cloud: 1, local: 5 });
    const submitted = await client.request('POST', '/v1/batches', body);
    const batch = await client.waitFinished(submitted.json.id, 240_000);
    expect(batch.routes).toEqual(quote.json.routes);
    expect(batch.budget.reached).toBe(true);
    // The local items are priced above the cloud ones: the quote's cost is the run's, not the cloud's alone.
    expect(Math.abs(quote.json.estimatedCostUsd - batch.cost.usd)).toBeLessThan(0.1 * batch.cost.usd);
  }, 300_000);
});
