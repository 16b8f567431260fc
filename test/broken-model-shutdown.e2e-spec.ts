import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureGeneratedModel } from '#libs/gguf';
import { AppProcess } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

/** SHUTDOWN_TIMEOUT_MS here (systemEnv's): the deadline exits with code 1 at 1.8 s. */
const SHUTDOWN_MS = 2000;

/**
 * A worker serving a model it could not load (its file cut short) beside a good one used to sit out its whole
 * shutdown deadline on every stop and exit 1, "shutdown did not finish in time": node-llama-cpp keeps a hold on the
 * engine after a failed load, and the engine's dispose() waited on it for ever once the failed model had been
 * garbage-collected. A rolling deploy waited the full SHUTDOWN_TIMEOUT_MS for each such worker.
 */
describe('a worker with a model it could not load', () => {
  let dir: string;
  const sys = useSystem(
    async () => {
      const tiny = await ensureGeneratedModel('tiny');
      dir = await mkdtemp(join(tmpdir(), 'broken-model-'));
      const whole = await readFile(tiny);
      const broken = join(dir, 'broken.gguf');
      // The header is whole (the pool reads it for its estimate); the weights are not.
      await writeFile(broken, whole.subarray(0, Math.floor(whole.length / 2)));
      return {
        LOCAL_MODELS: JSON.stringify({ tiny: { path: tiny }, broken: { path: broken } }),
        MAX_OUTPUT_TOKENS: '32',
      };
    },
    { workers: 0 },
  );
  sys.onStop(() => rm(dir, { recursive: true, force: true }));

  it('serves the good model, then stops at once with code 0 when told to', async () => {
    // Every garbage collection a full one (V8's --gc-global, not allowed in NODE_OPTIONS): the failed model is
    // collected within the first second, as it is in any worker that has run a while.
    const worker = new AppProcess(
      spawn(process.execPath, ['--gc-global', resolve('dist/apps/worker/src/main.js')], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...sys.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    sys.onStop(() => worker.stop());
    await sys.client.waitReady();
    const { json } = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'restricted',
      deadline: 'P1D',
      task: { type: 'summarize', maxTokens: 32 },
      items: Array.from({ length: 4 }, (_, i) => ({ id: `doc-${i}`, text: `Document ${i}. The board met.` })),
    });
    const batch = await sys.client.waitFinished(json.id, 60_000);
    expect(batch).toMatchObject({ status: 'completed', routes: { local: 4 } });
    const pools = (await sys.client.request('GET', '/v1/pools')).json.pools;
    expect(pools.find((p: any) => p.model === 'broken')).toMatchObject({ status: 'failed' });

    const signalledAt = Date.now();
    const code = await worker.stop();
    const out = worker.output.join('');
    expect({ code, deadline: /shutdown did not finish in time/.test(out) }).toEqual({ code: 0, deadline: false });
    expect(Date.now() - signalledAt).toBeLessThan(SHUTDOWN_MS);
  });
});
