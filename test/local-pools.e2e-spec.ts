import { beforeAll, describe, expect, it } from '@jest/globals';
import { totalmem } from 'node:os';
import { ensureGeneratedModel } from '#libs/gguf';
import { sleep } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

/**
 * Local pools on CPU with generated models: "alpha" (tiny, sequences computed from memory and cores) and
 * "beta" (small, one sequence, slow enough to cancel mid-generation).
 */
describe('local model pools', () => {
  const batch = (model: string, n: number, maxTokens: number, text = 'Notes from the weekly planning meeting.') => ({
    kind: 'document-processing',
    sensitivity: 'restricted',
    deadline: 'P1D',
    model,
    task: { type: 'summarize', maxTokens },
    items: Array.from({ length: n }, (_, i) => ({ id: `${model}-${i}`, text: `${i}: ${text}` })),
  });

  async function pool(model: string) {
    const { json } = await sys.client.request('GET', '/v1/pools');
    return json.pools.find((p: any) => p.model === model);
  }

  async function waitIdle(model: string) {
    for (let i = 0; i < 100 && (await pool(model)).sequences.busy !== 0; i++) await sleep(100);
    return pool(model);
  }

  const sys = useSystem(async () => ({
    LOCAL_MODELS: JSON.stringify({
      alpha: { path: await ensureGeneratedModel('tiny'), sequences: 'auto', priceOutputPerM: 0.01 },
      beta: { path: await ensureGeneratedModel('small'), sequences: 1, priceOutputPerM: 0.05 },
    }),
    MAX_OUTPUT_TOKENS: '512',
    LOCAL_THREADS: '1',
  }));
  beforeAll(async () => {
    for (let i = 0; i < 100 && (await sys.client.request('GET', '/v1/pools')).json.pools.length < 2; i++)
      await sleep(100);
  });

  it('reports every pool truthfully: device, memory, model size, sequences computed from memory and cores', async () => {
    const alpha = await pool('alpha');
    const beta = await pool('beta');
    expect(alpha).toMatchObject({
      target: 'local',
      provider: 'alpha',
      device: 'cpu',
      status: 'consuming',
      queue: 'inference-local.alpha',
      // The generated model's ChatML template, matched by node-llama-cpp (LOCAL_CHAT_WRAPPER left at auto).
      chatWrapper: 'ChatML',
    });
    expect(alpha.memory.totalBytes).toBe(totalmem());
    expect(alpha.memory.freeBytes).toBeGreaterThan(0);
    expect(alpha.modelBytes).toBeGreaterThan(1_000_000);
    expect(beta.modelBytes).toBeGreaterThan(alpha.modelBytes);
    // Auto on CPU: bounded by the cores the engine may use (this machine's RAM fits far more).
    expect(alpha.sequences.max).toBeGreaterThanOrEqual(1);
    expect(alpha.reason).toMatch(/sequence\(s\), bound by (CPU cores|memory)/);
    expect(beta.sequences).toEqual({ max: 1, active: 1, busy: 0 });
    expect(beta.reason).toBe('1 sequence(s), as configured');
  });

  it('runs several items at once on a pool with more than one sequence, and releases every sequence after', async () => {
    // Computed from memory and cores: 2 on the 2-core machines tests run on.
    expect((await pool('alpha')).sequences.max).toBeGreaterThanOrEqual(2);
    const submitted = await sys.client.request('POST', '/v1/batches', batch('alpha', 6, 512));
    await sys.client.waitFinished(submitted.json.id);
    const { json } = await sys.client.request('GET', `/v1/batches/${submitted.json.id}/items`);
    const spans = json.items.map((i: any) => [Date.parse(i.startedAt), Date.parse(i.finishedAt)]);
    const overlapping = spans.some(([s1, f1]: number[], i: number) =>
      spans.some(([s2, f2]: number[], j: number) => i !== j && s1 < f2 && s2 < f1),
    );
    expect(overlapping).toBe(true);
    expect((await waitIdle('alpha')).sequences.busy).toBe(0);
  });

  it('routes items pinned to a model to that model’s own pool and queue', async () => {
    const a = await sys.client.request('POST', '/v1/batches', batch('alpha', 2, 16));
    const b = await sys.client.request('POST', '/v1/batches', batch('beta', 2, 16));
    await Promise.all([sys.client.waitFinished(a.json.id), sys.client.waitFinished(b.json.id)]);
    const itemsA = (await sys.client.request('GET', `/v1/batches/${a.json.id}/items`)).json.items;
    const itemsB = (await sys.client.request('GET', `/v1/batches/${b.json.id}/items`)).json.items;
    expect(itemsA.map((i: any) => i.route.provider)).toEqual(['alpha', 'alpha']);
    expect(itemsB.map((i: any) => i.route.provider)).toEqual(['beta', 'beta']);
    expect(itemsB[0].route.reason).toMatch(/^pinned to local model beta/);
    // Each model's price applies to its own items.
    expect(itemsB[0].costUsd / itemsB[0].usage.outputTokens).toBeGreaterThan(
      itemsA[0].costUsd / itemsA[0].usage.outputTokens,
    );
    const queues = (await sys.client.request('GET', '/admin/queues/api/queues')).json.queues
      .map((q: any) => q.name)
      .sort();
    expect(queues).toEqual([
      'callbacks.deliveries',
      'inference-local.alpha',
      'inference-local.beta',
      'maintenance.intake',
      'maintenance.outputs',
      'maintenance.retention',
      'maintenance.schedules',
      'maintenance.sweeps',
    ]);
  });

  it('sends unpinned items to the cheaper local model when both meet the deadline', async () => {
    const { kind, sensitivity, deadline, task, items } = batch('alpha', 2, 16);
    const submitted = await sys.client.request('POST', '/v1/batches', { kind, sensitivity, deadline, task, items });
    await sys.client.waitFinished(submitted.json.id);
    const { json } = await sys.client.request('GET', `/v1/batches/${submitted.json.id}/items`);
    expect(json.items.map((i: any) => i.route.provider)).toEqual(['alpha', 'alpha']);
  });

  it('releases the sequence of an item cancelled while it runs, and the pool keeps serving', async () => {
    const submitted = await sys.client.request('POST', '/v1/batches', batch('beta', 3, 512));
    const id = submitted.json.id;
    for (let i = 0; i < 200; i++) {
      if ((await sys.client.request('GET', `/v1/batches/${id}`)).json.counts.running > 0) break;
      await sleep(20);
    }
    expect((await sys.client.request('DELETE', `/v1/batches/${id}`)).status).toBe(200);
    const done = await sys.client.waitFinished(id);
    expect(done.status).toBe('cancelled');
    expect(done.counts).toMatchObject({ cancelled: 3, completed: 0 });
    const { json } = await sys.client.request('GET', `/v1/batches/${id}/items`);
    expect(json.items.filter((i: any) => i.error === 'cancelled while running')).toHaveLength(1);
    expect((await waitIdle('beta')).sequences.busy).toBe(0);
    const after = await sys.client.request('POST', '/v1/batches', batch('beta', 1, 8));
    expect((await sys.client.waitFinished(after.json.id)).status).toBe('completed');
  });

  it('summarizes a document three times the context in parts, and fails what cannot be split with the reason; the pool keeps serving', async () => {
    const long = await sys.client.request('POST', '/v1/batches', batch('beta', 1, 64, 'word '.repeat(3000)));
    expect((await sys.client.waitFinished(long.json.id)).status).toBe('completed');
    const { json: summarized } = await sys.client.request('GET', `/v1/batches/${long.json.id}/items`);
    expect(summarized.items[0].usage.inputTokens).toBeGreaterThan(1024); // several calls: map, then reduce

    // One top-level statement larger than the context: no split point, so no part fits.
    const huge = await sys.client.request('POST', '/v1/batches', {
      kind: 'code-migration',
      sensitivity: 'restricted',
      deadline: 'P1D',
      model: 'beta',
      task: { instruction: 'Convert to ES modules', maxTokens: 64 },
      items: [{ path: 'src/words.js', content: `const words = "${'word '.repeat(3000)}";\n` }],
    });
    expect((await sys.client.waitFinished(huge.json.id)).status).toBe('failed');
    const { json } = await sys.client.request('GET', `/v1/batches/${huge.json.id}/items`);
    expect(json.items[0].error).toMatch(/too large for the model's context of 1024 tokens/);
    expect(json.items[0].errorCode).toBe('context_exceeded');
    expect((await waitIdle('beta')).sequences.busy).toBe(0);
    const after = await sys.client.request('POST', '/v1/batches', batch('beta', 1, 8));
    expect((await sys.client.waitFinished(after.json.id)).status).toBe('completed');
  });
});
