import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { sleep } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

/** A worker killed without warning (SIGKILL: crash, OOM kill, node lost) loses no job and runs none twice. */
describe('worker crash mid-batch', () => {
  const sys = useSystem(async () => ({
    LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
    MAX_OUTPUT_TOKENS: '256',
  }));

  it('completes every item exactly once after the worker is killed and started again', async () => {
    const total = 24;
    const submitted = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'restricted',
      deadline: 'P1D',
      task: { type: 'summarize', maxTokens: 256 },
      items: Array.from({ length: total }, (_, i) => ({
        id: `doc-${i}`,
        text: `Document ${i}. ` + 'Minutes of the board meeting. '.repeat(40),
      })),
    });
    expect(submitted.status).toBe(202);
    const id = submitted.json.id;

    // Kill while an item is running and some are done: the middle of the batch. "Running" is read just
    // before the kill, and the tiny model finishes its four sequences together within ~0.3 s on a quiet
    // machine: a kill that lands between two groups finds nothing in flight, and then nothing runs twice
    // (seen once). What was in flight is read from the store after the kill (no worker can change it
    // then); a kill that caught nothing is repeated with the next worker, so recovery is always exercised.
    let inFlight: string[] = [];
    for (let kill = 1; inFlight.length === 0; kill++) {
      for (;;) {
        const { json } = await sys.client.request('GET', `/v1/batches/${id}`);
        if (json.counts.completed >= 2 && json.counts.running >= 1) break;
        if (json.finishedAt) throw new Error('batch finished before the worker could be killed; make the items longer');
        await sleep(20);
      }
      await sys.workers[sys.workers.length - 1].kill();
      const items = (await sys.client.request('GET', `/v1/batches/${id}/items?limit=100`)).json.items;
      inFlight = items.filter((i: any) => i.status === 'running').map((i: any) => i.id);
      expect(items.filter((i: any) => i.status === 'completed').length).toBeLessThan(total);
      if (inFlight.length === 0 && kill === 3) throw new Error('three kills in a row found no item in flight');
      sys.startWorker();
    }

    const batch = await sys.client.waitFinished(id, 120_000);

    expect(batch.status).toBe('completed');
    expect(batch.counts).toEqual({ total, queued: 0, running: 0, completed: total, failed: 0, cancelled: 0 });
    const { json } = await sys.client.request('GET', `/v1/batches/${id}/items?limit=100`);
    expect(json.items.map((i: any) => i.id)).toEqual(Array.from({ length: total }, (_, i) => `doc-${i}`));
    // Exactly once: the batch's totals are the sum of one result per item, none counted twice.
    const sum = json.items.reduce((s: number, i: any) => s + i.usage.outputTokens, 0);
    expect(batch.usage.outputTokens).toBe(sum);
    // Every item that was running when the worker died ran again, on a new worker.
    const rerun = json.items.filter((i: any) => inFlight.includes(i.id));
    expect(rerun.map((i: any) => [i.id, i.attempts >= 2])).toEqual(inFlight.map((id) => [id, true]));
    expect(sys.workers[sys.workers.length - 1].output.join('')).toContain('item completed');
  });
});
