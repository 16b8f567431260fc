import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { queueRefFor } from '#libs/queue';
import { freePort } from './support/redis-server-process.js';
import type { AppProcess } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

/** SHUTDOWN_TIMEOUT_MS of every process here (systemEnv's); its deadline exits with code 1 at 1.8 s. */
const SHUTDOWN_MS = 2000;
const TOTAL = 6;

/** SIGTERM as soon as `line` is logged, then the exit code and how long the process took to exit. */
async function stopAt(proc: AppProcess, line: RegExp): Promise<{ code: number | null; ms: number }> {
  await proc.waitForLog(line);
  const signalledAt = Date.now();
  const code = await proc.stop();
  return { code, ms: Date.now() - signalledAt };
}

/**
 * A SIGTERM during start-up used to be lost: only the deadline heard it (Nest's shutdown hooks listen once the app
 * has started), so a worker went on to start its pools and take jobs, and the deadline then cut it off with code 1,
 * its jobs left active until their locks lapsed (a stall counted against each); an API went on to listen and was
 * cut off the same way.
 */
describe('a process told to stop while it starts', () => {
  const sys = useSystem(
    async () => ({ LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'), MAX_OUTPUT_TOKENS: '64' }),
    {
      workers: 0,
    },
  );
  let batchId: string;

  const queuedUntouched = async () => {
    const { jobs } = sys.internals();
    expect(await jobs.depth(queueRefFor('local', 'tiny'))).toMatchObject({ active: 0, completed: 0, failed: 0 });
    const batch = (await sys.client.request('GET', `/v1/batches/${batchId}`)).json;
    expect(batch.counts).toEqual({ total: TOTAL, queued: TOTAL, running: 0, completed: 0, failed: 0, cancelled: 0 });
    const items = (await sys.client.request('GET', `/v1/batches/${batchId}/items?limit=100`)).json.items;
    expect(items.map((i: any) => i.attempts)).toEqual(Array(TOTAL).fill(0));
  };

  it('queues a batch for the local model, with no worker yet', async () => {
    const submitted = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'restricted',
      deadline: 'P1D',
      task: { type: 'summarize', maxTokens: 64 },
      items: Array.from({ length: TOTAL }, (_, i) => ({ id: `doc-${i}`, text: `Document ${i}. The board met.` })),
    });
    expect(submitted.status).toBe(202);
    batchId = submitted.json.id;
    await queuedUntouched();
  });

  // While Nest builds the modules (Redis connecting), then while the engine opens and the model loads.
  it.each([/Starting Nest application/, /WorkerModule dependencies initialized/])(
    'a worker signalled at %s exits 0 at once, having taken no job',
    async (line) => {
      const worker = sys.startWorker();
      const { code, ms } = await stopAt(worker, line);
      const out = worker.output.join('');
      expect({ code, deadline: /shutdown did not finish in time/.test(out) }).toEqual({ code: 0, deadline: false });
      expect(ms).toBeLessThan(SHUTDOWN_MS);
      // Signalled while it started, not after: start-up saw the stop and started nothing more.
      expect(out).toContain('stop asked for during start-up');
      expect(out).not.toMatch(/"pool consuming"|item started|item completed/);
      await queuedUntouched();
    },
  );

  it.each([/Starting Nest application/, /ApiModule dependencies initialized/])(
    'an API signalled at %s exits 0 at once, never listening',
    async (line) => {
      const api = sys.startApp('api', { PORT: String(await freePort()) });
      const { code, ms } = await stopAt(api, line);
      const out = api.output.join('');
      expect({ code, deadline: /shutdown did not finish in time/.test(out) }).toEqual({ code: 0, deadline: false });
      expect(ms).toBeLessThan(SHUTDOWN_MS);
      expect(out).not.toContain('api listening');
    },
  );

  it('a worker let start runs every item once: none was left active for stalled-job recovery', async () => {
    sys.startWorker();
    const batch = await sys.client.waitFinished(batchId, 60_000);
    expect(batch.counts).toMatchObject({ total: TOTAL, completed: TOTAL });
    const items = (await sys.client.request('GET', `/v1/batches/${batchId}/items?limit=100`)).json.items;
    expect(items.map((i: any) => i.attempts)).toEqual(Array(TOTAL).fill(1));
  });
});
