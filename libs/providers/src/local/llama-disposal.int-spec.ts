import { describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ensureGeneratedModel } from '#libs/gguf';
import { keptEngineLog } from './engine-log.js';
import { disposeLlama } from './llama-disposal.js';
import { LocalModelProvider, openLlama } from './local-model-provider.js';

/** A full garbage collection, now (V8's gc(), exposed for this process from here on). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('disposeLlama', () => {
  it('lets go of an engine a model failed to load on, within its bound, and says so', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llama-disposal-'));
    try {
      const whole = await readFile(await ensureGeneratedModel('tiny'));
      const cut = join(dir, 'cut.gguf');
      await writeFile(cut, whole.subarray(0, Math.floor(whole.length / 2)));
      const llama = await openLlama(false, 1, keptEngineLog().logger);
      await expect(
        LocalModelProvider.load({ modelPath: cut, llama, threads: 1, contextSize: 256, sequences: 1 }),
      ).rejects.toThrow(/could not load local model/);
      // The failed model collected, as in any process that has run a while: node-llama-cpp's dispose() alone
      // then never settles.
      collectGarbage();

      const started = Date.now();
      const outcome = await disposeLlama(llama, 500);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(outcome.afterFailedLoad).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('disposes an engine that loaded its models as usual', async () => {
    const llama = await openLlama(false, 1, keptEngineLog().logger);
    const provider = await LocalModelProvider.load({
      modelPath: await ensureGeneratedModel('tiny'),
      llama,
      threads: 1,
      contextSize: 256,
      sequences: 1,
    });
    await provider.close();
    expect(await disposeLlama(llama, 10_000)).toEqual({ disposed: true, afterFailedLoad: false });
  });
});
