import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { type OpenAIDouble } from './support/openai-double.js';
import { sleep } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

/**
 * What real OpenAI-compatible servers do (llama.cpp's `llama-server` refusing `response_format`, or a prompt
 * over its context), on real processes: an item a provider refuses is never sent there again and ends long
 * before its deadline; refusals of one shape on several items are learned as the provider's inability, shown
 * in GET /v1/providers, and forgotten after CAPABILITY_MEMORY_MS. The cloud double is priced far below the
 * local model, so every item goes to it first while it can take it.
 */
const MEMORY_MS = 8_000;

const extract = (id: string, deadline = 'PT60S') => ({
  kind: 'document-processing',
  sensitivity: 'public',
  deadline,
  task: {
    type: 'extract',
    maxTokens: 48,
    schema: {
      type: 'object',
      properties: { amountEuros: { type: 'number' } },
      required: ['amountEuros'],
      additionalProperties: false,
    },
  },
  items: [{ id, text: `${id}: the invoice total is 1200 euros, due in March.` }],
});
const sentFor = (double: OpenAIDouble, id: string) =>
  double.completionRequests().filter((r) => JSON.stringify(r.body).includes(`${id}: `));

describe("real servers' habits", () => {
  const sys = useSystem(
    async ({ double }) => ({
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      LOCAL_MODEL_NAME: 'tiny',
      LOCAL_PRICE_INPUT_PER_M: '5',
      LOCAL_PRICE_OUTPUT_PER_M: '50',
      CLOUD_PRICE_INPUT_PER_M: '0.01',
      CLOUD_PRICE_OUTPUT_PER_M: '0.01',
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      CLOUD_MAX_SENSITIVITY: 'internal',
      CLOUD_MAX_RETRIES: '0',
      CAPABILITY_MEMORY_MS: String(MEMORY_MS),
    }),
    { double: { apiKey: 'test-key' } },
  );

  it('an item a server refuses (400 to response_format) is sent there once and ends long before its deadline', async () => {
    sys.double.setHabits({ refuseResponseFormat: true });
    const submitted = Date.now();
    const { status, json } = await sys.client.request('POST', '/v1/batches', extract('refused-1'));
    expect(status).toBe(202);
    const batch = await sys.client.waitFinished(json.id, 45_000);
    expect(Date.now() - submitted).toBeLessThan(30_000);
    expect(sentFor(sys.double, 'refused-1')).toHaveLength(1);

    const [item] = (await sys.client.request('GET', `/v1/batches/${json.id}/items`)).json.items;
    expect(item.routeHistory.map((r: any) => r.target)).toEqual(['cloud', 'local']);
    // The refusal is in the route history with the server's error type, never its message text.
    expect(item.routeHistory[1].reason).toMatch(/refused it: .*HTTP 400 \(invalid_request_error\)/);
    expect(item.routeHistory[1].reason).not.toMatch(/Unsupported param/);
    expect(item.ruledOut).toEqual(
      expect.arrayContaining([expect.objectContaining({ target: 'cloud', provider: 'frontier' })]),
    );
    if (item.status === 'failed') {
      // Nowhere left: its error names each route's reason.
      expect(item.error).toMatch(/frontier: .*HTTP 400/);
      expect(item.error).toMatch(/tiny: answers rejected/);
    } else {
      expect(item.status).toBe('completed');
      expect(item.error).toBeNull();
    }
    expect(['completed', 'failed']).toContain(batch.status);
  });

  it('refusals of structured output on two items are learned: a third item is routed elsewhere, and the memory expires', async () => {
    sys.double.setHabits({ refuseResponseFormat: true });
    // refused-1 above was the first refusal within the window; this is the second.
    const second = await sys.client.request('POST', '/v1/batches', extract('refused-2'));
    await sys.client.waitFinished(second.json.id, 45_000);
    expect(sentFor(sys.double, 'refused-2')).toHaveLength(1);

    const providers = (await sys.client.request('GET', '/v1/providers')).json.providers;
    const frontier = providers.find((p: any) => p.name === 'frontier');
    expect(frontier.unable).toEqual([
      { capability: 'structured-output', learnedAt: expect.any(String), expiresAt: expect.any(String), refusals: 2 },
    ]);

    const third = await sys.client.request('POST', '/v1/batches', extract('refused-3'));
    expect(third.status).toBe(202);
    await sys.client.waitFinished(third.json.id, 45_000);
    // Routed around the provider that cannot do it: not one refused request paid for.
    expect(sentFor(sys.double, 'refused-3')).toHaveLength(0);
    const [item] = (await sys.client.request('GET', `/v1/batches/${third.json.id}/items`)).json.items;
    expect(item.routeHistory[0].target).toBe('local');
    expect(item.routeHistory[0].reason).toMatch(/frontier found unable to serve structured-output/);

    // A fixed server gets such requests again once the memory has expired.
    sys.double.setHabits({});
    sys.double.setResponder(() => '{"amountEuros": 1200}');
    const learnedAt = Date.parse(frontier.unable[0].learnedAt);
    await sleep(Math.max(0, learnedAt + MEMORY_MS + 500 - Date.now()));
    expect(
      (await sys.client.request('GET', '/v1/providers')).json.providers.find((p: any) => p.name === 'frontier').unable,
    ).toEqual([]);
    const fourth = await sys.client.request('POST', '/v1/batches', extract('fixed-4'));
    expect((await sys.client.waitFinished(fourth.json.id, 45_000)).status).toBe('completed');
    expect(sentFor(sys.double, 'fixed-4')).toHaveLength(1);
    sys.double.setResponder(null);
  });

  it("a prompt over the server's real context (exceed_context_size_error) is not sent there again: the item completes locally, its error cleared", async () => {
    sys.double.setHabits({ contextTokens: 20 });
    const { json } = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'public',
      deadline: 'PT60S',
      task: { type: 'summarize', maxTokens: 16 },
      items: [{ id: 'long-1', text: 'long-1: ' + 'The quarterly report covers revenue and costs. '.repeat(10) }],
    });
    const batch = await sys.client.waitFinished(json.id, 45_000);
    expect(batch.status).toBe('completed');
    expect(sentFor(sys.double, 'long-1')).toHaveLength(1);
    const [item] = (await sys.client.request('GET', `/v1/batches/${json.id}/items`)).json.items;
    expect(item.routeHistory.map((r: any) => r.target)).toEqual(['cloud', 'local']);
    expect(item.routeHistory[1].reason).toMatch(/HTTP 400 \(exceed_context_size_error\)/);
    // `error` is for items that failed: the refusal lives in the route history.
    expect(item.error).toBeNull();
    sys.double.setHabits({});
  });

  it("a model that refuses max_tokens (OpenAI's reasoning models) gets max_completion_tokens: summaries and chat items complete there, each refused request sent once more", async () => {
    sys.double.setHabits({ refuseMaxTokens: true });
    const summaries = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'public',
      deadline: 'PT60S',
      task: { type: 'summarize', maxTokens: 16 },
      items: ['cap-1', 'cap-2'].map((id) => ({ id, text: `${id}: the board approved the budget.` })),
    });
    const chat = await sys.client.request('POST', '/v1/batches', {
      kind: 'chat',
      sensitivity: 'public',
      deadline: 'PT60S',
      items: [{ id: 'cap-3', body: { messages: [{ role: 'user', content: 'cap-3: one word?' }], max_tokens: 8 } }],
    });
    for (const { json } of [summaries, chat]) {
      const batch = await sys.client.waitFinished(json.id, 45_000);
      expect(batch).toMatchObject({ status: 'completed', routes: { cloud: batch.counts.total, local: 0 } });
    }
    const sent = ['cap-1', 'cap-2', 'cap-3'].flatMap((id) => sentFor(sys.double, id));
    const refused = sent.filter((r) => r.body.max_tokens !== undefined);
    // The worker's first such request learns the field (one refusal; a probe may have learned it before).
    expect(refused.length).toBeLessThanOrEqual(1);
    expect(sent.length).toBe(3 + refused.length);
    expect(
      sent.filter((r) => r.body.max_completion_tokens !== undefined).map((r) => r.body.max_completion_tokens),
    ).toEqual(expect.arrayContaining([16, 8]));
    sys.double.setHabits({});
  });
});
