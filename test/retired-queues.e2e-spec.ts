import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { sleep } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

/**
 * A local model renamed in LOCAL_MODELS (the upgrade of a model file, a typo fixed): the items already queued for the
 * old name sit on a queue nothing consumes, and neither routing nor the deadline sweep looks at it. On real
 * processes: an API of the old config accepts work for "old" while no worker runs; a worker of the new config,
 * which serves "new" only, moves that work where it can run — restricted work to its local model, never to the
 * cloud — and leaves an item pinned to "old" waiting, saying so.
 */
describe('a local model renamed with work queued for its old name', () => {
  const sys = useSystem(
    async ({ double }) => ({
      LOCAL_MODELS: JSON.stringify({ old: { path: await ensureGeneratedModel('tiny'), sequences: 1 } }),
      MAX_OUTPUT_TOKENS: '32',
      LOCAL_THREADS: '1',
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      OPENAI_MODEL: 'double-model',
      CLOUD_MAX_SENSITIVITY: 'internal',
      ESCALATION_INTERVAL_MS: '500',
    }),
    { double: { apiKey: 'test-key' }, workers: 0, waitFor: 'listening' },
  );

  const submit = async (tag: string, fields: Record<string, unknown>) => {
    const res = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      deadline: 'P1D',
      task: { type: 'summarize', maxTokens: 16 },
      items: [{ id: tag, text: `${tag}: minutes of the quarterly review.` }],
      ...fields,
    });
    expect(res.status).toBe(202);
    return res.json.id as string;
  };
  const itemOf = async (batchId: string) =>
    (await sys.client.request('GET', `/v1/batches/${batchId}/items`)).json.items[0];

  it('moves the queued work to the models configured now, restricted work to a local one, and keeps pinned work waiting', async () => {
    const open = await submit('open', { sensitivity: 'public' });
    const secret = await submit('secret', { sensitivity: 'restricted' });
    const pinned = await submit('pinned', { sensitivity: 'public', model: 'old' });
    for (const id of [open, secret, pinned])
      expect((await itemOf(id)).route).toMatchObject({ target: 'local', provider: 'old' });

    const worker = sys.startWorker({
      LOCAL_MODELS: JSON.stringify({ new: { path: await ensureGeneratedModel('tiny'), sequences: 1 } }),
    });
    for (const id of [open, secret]) expect((await sys.client.waitFinished(id, 180_000)).status).toBe('completed');
    const moved = await itemOf(secret);
    expect(moved.route).toMatchObject({ target: 'local', provider: 'new' });
    expect(moved.routeHistory.map((r: any) => r.provider)).toEqual(['old', 'new']);
    expect(moved.routeHistory[1].reason).toMatch(/moved: old is no longer configured/);
    // Restricted: the only providers cleared for it are local, so nothing of it left the premises.
    expect(sys.double.completionRequests().filter((r) => JSON.stringify(r.body).includes('secret: '))).toEqual([]);
    expect((await itemOf(open)).routeHistory[0]).toMatchObject({ provider: 'old' });

    // Pinned to a model no worker serves: it waits, and the worker says so rather than dropping it.
    await worker.waitForLog(/items wait on a queue no configured provider serves.*inference-local\.old/);
    await sleep(1_000);
    expect(await itemOf(pinned)).toMatchObject({ status: 'queued', route: { provider: 'old' } });
  }, 240_000);
});
