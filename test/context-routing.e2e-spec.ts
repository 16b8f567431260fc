import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf/src/ensure-model.js';
import { startOpenAIDouble, type OpenAIDouble } from './support/openai-double.js';
import { ApiClient, startApp, startSystem, systemEnv } from './support/system-under-test.js';

const paragraph = (i: number) =>
  `Paragraph ${i} of the annual report. Revenue in region ${i} grew by ${i} percent, ` +
  'driven by new customers and steady renewals.';

/** An extract whose schema alone leaves a 512-token context no room for a part of the document. */
const schema = {
  type: 'object',
  properties: Object.fromEntries(
    ['vendor', 'invoiceNumber', 'issuedOn', 'dueOn', 'currency', 'netAmount', 'taxAmount', 'grossAmount', 'iban']
      .map((name) => [name, { type: 'string', description: `The ${name} as the invoice states it, verbatim.` }]),
  ),
  required: ['vendor'],
};

/**
 * The OpenAI double as a cloud provider of 512 tokens, a local model of 2,048 that costs twice as much per token,
 * and the processes `start` runs on them; stop() ends them all.
 */
async function startSmallCloud(
  start: (env: NodeJS.ProcessEnv) => Promise<{ client: ApiClient; stop: () => Promise<void> }>,
): Promise<{ double: OpenAIDouble; client: ApiClient; stop: () => Promise<void> }> {
  const double = await startOpenAIDouble({ apiKey: 'test-key' });
  const env = await systemEnv({
    LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
    LOCAL_CONTEXT_SIZE: '2048',
    LOCAL_PRICE_INPUT_PER_M: '0.3',
    LOCAL_PRICE_OUTPUT_PER_M: '1.2',
    MAX_OUTPUT_TOKENS: '64',
    OPENAI_BASE_URL: double.url,
    OPENAI_API_KEY: 'test-key',
    CLOUD_MAX_SENSITIVITY: 'internal',
    CLOUD_LATENCY_MS: '100',
    CLOUD_TOKENS_PER_SEC: '2000',
    CLOUD_CONTEXT_TOKENS: '512',
  });
  try {
    const { client, stop } = await start(env);
    return { double, client, stop: async () => void (await Promise.all([stop(), double.close()])) };
  } catch (error) {
    await double.close();
    throw error;
  }
}

/** Submits a batch of one item and answers that item once the batch has finished. */
async function finishedItem(client: ApiClient, body: unknown): Promise<any> {
  const submitted = await client.request('POST', '/v1/batches', body);
  expect(submitted.status).toBe(202);
  const batch = await client.waitFinished(submitted.json.id, 180_000);
  const { json } = await client.request('GET', `/v1/batches/${batch.id}/items`);
  return json.items[0];
}

/** Completed, or failed for another reason than context (the random-weight model's code never parses). */
/** Its own failure, before the providers it was ruled out on (whose reasons may name a context). */
const notFailedForContext = (item: any) =>
  item.status === 'completed' || !/leaves \d+ tokens|context/.test((item.error ?? '').split(/; (ruled out|no other cleared)/)[0]);

/**
 * Issue 12 §4, through the real path (API → queue → worker → provider → store): a cloud provider serving a small
 * model (CLOUD_CONTEXT_TOKENS 512), a local model of 2,048 tokens, the cloud cheaper per token. Counted as one
 * call each, every long item went to the cloud: a ~4k-token summary took 174 calls there, and an extract and a
 * preset migration whose part prompts leave no room in 512 tokens failed with no call at all.
 */
describe('routing by what a provider\'s context means for a long item', () => {
  let system: { double: OpenAIDouble; client: ApiClient; stop: () => Promise<void> };
  let double: OpenAIDouble;
  let client: ApiClient;

  beforeAll(async () => {
    system = await startSmallCloud((env) => startSystem(env));
    ({ double, client } = system);
  }, 120_000);
  afterAll(() => system?.stop());

  const submit = (body: unknown) => finishedItem(client, body);
  /** Routed locally at intake because the cloud's context cannot hold it; never sent there, nor failed for context. */
  const expectLocalForContext = (item: any) => {
    expect(item.routeHistory[0].reason).toMatch(/frontier's context of 512 tokens cannot hold it/);
    expect(item.routeHistory.map((r: any) => r.target)).toEqual(['local']);
    expect(double.completionRequests()).toHaveLength(0);
    expect(notFailedForContext(item)).toBe(true);
  };

  it('summarizes a ~4k-token report in a handful of calls, locally: 2,048 tokens hold it in few parts', async () => {
    double.reset();
    const { json } = await client.request('GET', '/v1/providers');
    const contexts = json.providers.map((p: any) => [p.target, p.contextTokens]);
    expect(contexts).toEqual([['local', 2048], ['cloud', 512]]);
    const report = Array.from({ length: 130 }, (_, i) => paragraph(i)).join('\n\n'); // ~16,000 characters
    const item = await submit({
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline: 'P1D',
      task: { type: 'summarize' },
      items: [{ id: 'report', text: report }],
    });
    expect(item.status).toBe('completed');
    // The random-weight local model writes exactly maxTokens (64) a call; a cloud call is one request to the double.
    const calls = item.route.target === 'cloud' ? double.completionRequests().length : item.usage.outputTokens / 64;
    expect(calls).toBeLessThanOrEqual(8);
    expect(item.route).toMatchObject({ target: 'local' });
    expect(double.completionRequests()).toHaveLength(0);
  }, 200_000);


  it('runs locally an extract whose part prompt 512 tokens cannot hold: never sent to the cloud', async () => {
    double.reset();
    const text = Array.from({ length: 50 }, (_, i) => paragraph(i)).join('\n\n'); // ~1,500 tokens
    const item = await submit({
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline: 'P1D',
      task: { type: 'extract', schema },
      items: [{ id: 'invoice', text }],
    });
    expectLocalForContext(item);
  }, 200_000);

  it('runs locally a preset migration whose part prompt a 512-token context cannot hold', async () => {
    double.reset();
    const fn = (i: number) => `function total${i}(a) {\n  var sum = a + ${i};\n  return sum;\n}\n`;
    const functions = Array.from({ length: 16 }, (_, i) => fn(i)).join('\n');
    const content = `'use strict';\nconst path = require('path');\n\n${functions}\nmodule.exports = { total0 };\n`;
    const item = await submit({
      kind: 'code-migration',
      sensitivity: 'internal',
      deadline: 'P1D',
      task: { preset: 'commonjs-to-esm' },
      items: [{ path: 'src/totals.js', content }],
    });
    expectLocalForContext(item);
  }, 200_000);
});

/**
 * The second line: a run that finds the provider's context too small after all (here the API was told the cloud
 * holds 8,192 tokens and the worker that it holds 512, as when a provider's served model changes) moves the item
 * to a cleared provider whose context holds it, instead of failing it.
 */
describe('an item whose run finds the context too small', () => {
  let system: { double: OpenAIDouble; client: ApiClient; stop: () => Promise<void> };

  beforeAll(async () => {
    system = await startSmallCloud(async (env) => {
      const worker = startApp('worker', env);
      const api = startApp('api', { ...env, CLOUD_CONTEXT_TOKENS: '8192' });
      const stop = async () => void (await Promise.all([api.stop(), worker.stop()]));
      const client = new ApiClient(`http://127.0.0.1:${env.PORT}`);
      await client.waitReady().catch(async (error) => {
        await stop();
        throw error;
      });
      return { client, stop };
    });
  }, 120_000);
  afterAll(() => system?.stop());

  it('moves an extract the cloud cannot hold to the local model, no request sent, instead of failing it', async () => {
    const text = Array.from({ length: 50 }, (_, i) => paragraph(i)).join('\n\n');
    const { client, double } = system;
    const item = await finishedItem(client, {
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline: 'P1D',
      task: { type: 'extract', schema },
      items: [{ id: 'invoice', text }],
    });
    expect(item.routeHistory.map((r: any) => r.target)).toEqual(['cloud', 'local']);
    expect(item.routeHistory[1].reason).toMatch(/^frontier's context too small; /);
    expect(double.completionRequests()).toHaveLength(0);
    expect(notFailedForContext(item)).toBe(true);
  }, 200_000);
});
