import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { defaultAnswer, startOpenAIDouble, type OpenAIDouble } from '../../../../test/support/openai-double.js';
import { ClearanceError, ProviderError } from '../completion.js';
import { inputTokensBound } from '#libs/routing';
import type { EgressRecord } from './egress-audit.js';
import { ProviderBatchApi, type BatchLineRequest } from './provider-batch-api.js';

describe('ProviderBatchApi against the double’s Files and Batches endpoints', () => {
  let double: OpenAIDouble;
  const audited: Array<EgressRecord & { requestsBefore: number }> = [];
  let auditFails = false;
  beforeAll(async () => {
    double = await startOpenAIDouble({ apiKey: 'k' });
  });
  afterAll(async () => {
    await double.close();
  });
  afterEach(() => {
    double.reset();
    audited.length = 0;
    auditFails = false;
  });

  const api = () =>
    new ProviderBatchApi({
      name: 'frontier.batch',
      baseURL: double.url,
      apiKey: 'k',
      model: 'double-model',
      clearance: 'internal',
      timeoutMs: 5000,
      audit: {
        beforeRequest: async (r) => {
          if (auditFails) throw new Error('redis down');
          audited.push({ ...r, requestsBefore: double.requests.length });
        },
        refused: async () => undefined,
      },
    });
  const line = (i: number, over: Partial<BatchLineRequest> = {}): BatchLineRequest => {
    const prompt = `Summarize memo ${i}.`;
    return {
      customId: `b1:${i}:0`,
      itemRef: `b1.${i}`,
      sensitivity: 'internal',
      body: api().lineBody({ itemRef: `b1.${i}`, sensitivity: 'internal', system: 'Be brief.', prompt, maxTokens: 64 }),
      ...over,
    };
  };

  it('audits every line before uploading, creates a 24 h batch, and maps results back by custom_id', async () => {
    const client = api();
    const created = await client.submit([line(0), line(1)], 'flush-1');
    // Both lines were recorded before the first request left.
    expect(audited.map((a) => [a.itemRef, a.provider, a.model, a.requestsBefore])).toEqual([
      ['b1.0', 'frontier.batch', 'double-model', 0],
      ['b1.1', 'frontier.batch', 'double-model', 0],
    ]);
    const [upload, create] = double.requests;
    expect(upload.path).toBe('/v1/files');
    expect(create.body).toMatchObject({
      completion_window: '24h',
      endpoint: '/v1/chat/completions',
      metadata: { flush: 'flush-1' },
    });
    const input = double
      .fileContent(create.body.input_file_id)!
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(input.map((l) => l.custom_id)).toEqual(['b1:0:0', 'b1:1:0']);
    expect((await client.find('flush-1'))?.id).toBe(created.id);
    expect(await client.find('flush-2')).toBeNull();

    const done = await client.status(created.id);
    expect(done.status).toBe('completed');
    const results = await client.results(done);
    const first = results.get('b1:0:0');
    expect(first).toMatchObject({
      kind: 'answered',
      completion: { text: defaultAnswer('Be brief.Summarize memo 0.'.length) },
    });
    expect(results.get('b1:1:0')?.kind).toBe('answered');
  });

  it('reports a line the provider failed as failed, the rest answered', async () => {
    double.setBatchHabits({ failLines: ['b1:1:0'] });
    const client = api();
    const results = await client.results(await client.status((await client.submit([line(0), line(1)], 'f')).id));
    expect(results.get('b1:0:0')?.kind).toBe('answered');
    expect(results.get('b1:1:0')).toMatchObject({ kind: 'failed', code: 'server_error' });
  });

  it('passes a cancel on, and a batch still running says so', async () => {
    double.setBatchHabits({ completeAfterMs: 60_000 });
    const client = api();
    const created = await client.submit([line(0)], 'f');
    expect((await client.status(created.id)).status).toBe('in_progress');
    expect((await client.cancel(created.id)).status).toBe('cancelled');
    expect(double.batches()[0].status).toBe('cancelled');
  });

  it('sends nothing when a line is above the clearance or cannot be audited', async () => {
    await expect(api().submit([line(0), line(1, { sensitivity: 'confidential' })], 'f')).rejects.toBeInstanceOf(
      ClearanceError,
    );
    auditFails = true;
    await expect(api().submit([line(0)], 'f')).rejects.toMatchObject({
      code: 'audit_unavailable',
    } satisfies Partial<ProviderError>);
    expect(double.requests).toHaveLength(0);
  });

  it("estimates a line's usage from the request it sent where the output reports none, and says so", async () => {
    double.setHabits({ usage: 'omit' });
    const client = api();
    const sentLine = line(0);
    const done = await client.status((await client.submit([sentLine], 'f')).id);
    const result = (await client.results(done, new Map([[sentLine.customId, sentLine.body]]))).get('b1:0:0');
    expect(result).toMatchObject({
      kind: 'answered',
      completion: {
        usage: { inputTokens: inputTokensBound(['Be brief.', 'Summarize memo 0.'], 2) },
        usageEstimated: true,
      },
    });
  });
});
