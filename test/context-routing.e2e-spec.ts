import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import type { OpenAIDouble } from './support/openai-double.js';
import type { ApiClient } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

const paragraph = (i: number) =>
  `Paragraph ${i} of the annual report. Revenue in region ${i} grew by ${i} percent, ` +
  'driven by new customers and steady renewals.';

/** An extract whose schema alone leaves a 512-token context no room for a part of the document. */
const schema = {
  type: 'object',
  properties: Object.fromEntries(
    ['vendor', 'invoiceNumber', 'issuedOn', 'dueOn', 'currency', 'netAmount', 'taxAmount', 'grossAmount', 'iban'].map(
      (name) => [name, { type: 'string', description: `The ${name} as the invoice states it, verbatim.` }],
    ),
  ),
  required: ['vendor'],
};

/** The OpenAI double as a cloud provider of 512 tokens, a local model of 2,048 that costs twice as much per token. */
const smallCloud = async ({ double }: { double: OpenAIDouble }): Promise<NodeJS.ProcessEnv> => ({
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
  item.status === 'completed' ||
  !/leaves \d+ tokens|context/.test((item.error ?? '').split(/; (ruled out|no other cleared)/)[0]);

/**
 * Issue 12 §4, through the real path (API → queue → worker → provider → store): a cloud provider serving a small
 * model (CLOUD_CONTEXT_TOKENS 512), a local model of 2,048 tokens, the cloud cheaper per token. Counted as one
 * call each, every long item went to the cloud: a ~4k-token summary took 174 calls there, and an extract and a
 * preset migration whose part prompts leave no room in 512 tokens failed with no call at all.
 */
describe("routing by what a provider's context means for a long item", () => {
  const sys = useSystem(smallCloud, { double: { apiKey: 'test-key' } });

  const submit = (body: unknown) => finishedItem(sys.client, body);
  /** Routed locally at intake because the cloud's context cannot hold it; never sent there, nor failed for context. */
  const expectLocalForContext = (item: any) => {
    expect(item.routeHistory[0].reason).toMatch(/frontier's context of 512 tokens cannot hold it/);
    expect(item.routeHistory.map((r: any) => r.target)).toEqual(['local']);
    expect(sys.double.completionRequests()).toHaveLength(0);
    expect(notFailedForContext(item)).toBe(true);
  };

  it('summarizes a ~4k-token report in a handful of calls, locally: 2,048 tokens hold it in few parts', async () => {
    sys.double.reset();
    const { json } = await sys.client.request('GET', '/v1/providers');
    const contexts = json.providers.map((p: any) => [p.target, p.contextTokens]);
    expect(contexts).toEqual([
      ['local', 2048],
      ['cloud', 512],
    ]);
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
    const calls = item.route.target === 'cloud' ? sys.double.completionRequests().length : item.usage.outputTokens / 64;
    expect(calls).toBeLessThanOrEqual(8);
    expect(item.route).toMatchObject({ target: 'local' });
    expect(sys.double.completionRequests()).toHaveLength(0);
  }, 200_000);

  it('runs locally an extract whose part prompt 512 tokens cannot hold: never sent to the cloud', async () => {
    sys.double.reset();
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
    sys.double.reset();
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
  // The API is told the cloud holds 8,192 tokens, the worker that it holds 512.
  const sys = useSystem(smallCloud, { double: { apiKey: 'test-key' }, apiEnv: { CLOUD_CONTEXT_TOKENS: '8192' } });

  it('moves an extract the cloud cannot hold to the local model, no request sent, instead of failing it', async () => {
    const text = Array.from({ length: 50 }, (_, i) => paragraph(i)).join('\n\n');
    const { client, double } = sys;
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
