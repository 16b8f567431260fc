import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf/src/ensure-model.js';
import { ApiClient, sleep, startApp, systemEnv, type AppProcess } from './support/system-under-test.js';

/** A worker killed without warning (SIGKILL: crash, OOM kill, node lost) loses no job and runs none twice. */
describe('worker crash mid-batch', () => {
  let env: NodeJS.ProcessEnv;
  let api: AppProcess;
  const workers: AppProcess[] = [];
  let client: ApiClient;

  beforeAll(async () => {
    env = await systemEnv({ LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'), MAX_OUTPUT_TOKENS: '256' });
    api = startApp('api', env);
    workers.push(startApp('worker', env));
    client = new ApiClient(`http://127.0.0.1:${env.PORT}`);
    await client.waitReady();
  });

  afterAll(async () => {
    await Promise.all([api?.stop(), ...workers.map((w) => w.stop())]);
  });

  it('completes every item exactly once after the worker is killed and started again', async () => {
    const total = 24;
    const submitted = await client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'restricted',
      deadline: 'P1D',
      task: { type: 'summarize', maxTokens: 256 },
      items: Array.from({ length: total }, (_, i) => ({ id: `doc-${i}`, text: `Document ${i}. ` + 'Minutes of the board meeting. '.repeat(40) })),
    });
    expect(submitted.status).toBe(202);
    const id = submitted.json.id;

    // Kill while an item is running and some are done: the middle of the batch.
    for (;;) {
      const { json } = await client.request('GET', `/v1/batches/${id}`);
      if (json.counts.completed >= 2 && json.counts.running >= 1) break;
      if (json.finishedAt) throw new Error('batch finished before the worker could be killed; make the items longer');
      await sleep(20);
    }
    await workers[0].kill();
    const atKill = (await client.request('GET', `/v1/batches/${id}`)).json;
    expect(atKill.counts.completed).toBeLessThan(total);

    workers.push(startApp('worker', env));
    const batch = await client.waitFinished(id, 120_000);

    expect(batch.status).toBe('completed');
    expect(batch.counts).toEqual({ total, queued: 0, running: 0, completed: total, failed: 0, cancelled: 0 });
    const { json } = await client.request('GET', `/v1/batches/${id}/items?limit=100`);
    expect(json.items.map((i: any) => i.id)).toEqual(Array.from({ length: total }, (_, i) => `doc-${i}`));
    // Exactly once: the batch's totals are the sum of one result per item, none counted twice.
    const sum = json.items.reduce((s: number, i: any) => s + i.usage.outputTokens, 0);
    expect(batch.usage.outputTokens).toBe(sum);
    // The item that was running when the worker died ran again, on the new worker.
    expect(json.items.some((i: any) => i.attempts >= 2)).toBe(true);
    expect(workers[1].output.join('')).toContain('item completed');
  });
});
