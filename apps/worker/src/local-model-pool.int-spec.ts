import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import type { Llama } from 'node-llama-cpp';
import { loadConfig } from '#libs/config';
import { ensureGeneratedModel } from '#libs/gguf';
import { metricsText } from '#libs/metrics';
import type { PoolHeartbeat, PoolRegistry } from '#libs/pools';
import { disposeLlama, keptEngineLog, openLlama } from '#libs/providers';
import { InMemoryJobQueue, queueRefFor } from '#libs/queue';
import type { ItemProcessor } from './item-processor.js';
import { LocalModelPool } from './local-model-pool.js';

/**
 * A model file that cannot be used (issue: a bad file crashed the worker at start-up, taking its other models
 * down, and each restart announced 'loading' again): the pool opens anyway, says why it does not consume, and
 * leaves the worker running. On the real engine, CPU only.
 */
describe('LocalModelPool with a model file it cannot use', () => {
  let llama: Llama;
  let dir: string;
  const pools: LocalModelPool[] = [];

  beforeAll(async () => {
    // llama.cpp's complaints about the unusable files, kept off jest's console (they may come after the tests).
    llama = await openLlama(false, 1, keptEngineLog().logger);
    dir = await mkdtemp(join(tmpdir(), 'local-model-pool-'));
  });

  // What the pools log here is what the tests expect of them.
  let errors: jest.SpiedFunction<Logger['error']>;
  beforeEach(() => {
    errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.stop(1000)));
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    // Bounded: after the failed loads here, node-llama-cpp's dispose() may never finish (disposeLlama says why);
    // a run that had collected garbage by then hung in this hook.
    if (llama) await disposeLlama(llama, 2_000);
    await rm(dir, { recursive: true, force: true });
  });

  /** Opens the model at `modelPath` with a registry that records its heartbeats and the loads it measured. */
  async function open(modelPath: string, contextSize = 256, onBeat?: (hb: PoolHeartbeat) => Promise<void>) {
    const config = loadConfig({
      LOCAL_MODEL_PATH: modelPath,
      LOCAL_MODEL_NAME: 'broken',
      LOCAL_CONTEXT_SIZE: String(contextSize),
      LOCAL_SEQUENCES: '1',
      LOCAL_PREEMPT_SLACK_MS: 'off',
    });
    const beats: PoolHeartbeat[] = [];
    const loads: number[] = [];
    const registry = {
      beat: async (hb: PoolHeartbeat) => {
        beats.push(hb);
        await onBeat?.(hb);
      },
      remove: async () => undefined,
      loadMs: async () => null,
      recordLoad: async (_model: string, ms: number) => void loads.push(ms),
    } as unknown as PoolRegistry;
    const pool = await LocalModelPool.open({ ...config.localModels[0]!, modelPath }, config.engine, llama, {
      jobs: new InMemoryJobQueue({ queues: [queueRefFor('local', 'broken')] }),
      registry,
      processor: { run: async () => ({ kind: 'completed' }) } as unknown as ItemProcessor,
      heartbeatMs: 3_600_000,
      grace: { graceMs: null, loadEstimateMs: 1000 },
      probe: async () => ({ kind: 'cpu', totalBytes: 8 * 2 ** 30, freeBytes: 8 * 2 ** 30, cores: 2 }),
    });
    pools.push(pool);
    return { pool, beats, loads };
  }

  it('a 1 KB text file: open() resolves to a pool that does not consume and says it could not read the file', async () => {
    const path = join(dir, 'notes.gguf');
    await writeFile(path, 'not a model, just some notes\n'.repeat(36).slice(0, 1024));
    const { pool, beats, loads } = await open(path);

    const description = pool.describe();
    expect(description.status).toBe('failed');
    expect(description.reason).toMatch(/could not read .*notes\.gguf as a GGUF model/);
    expect(description).toMatchObject({ sequences: 0, activeSequences: 0, modelBytes: null });
    expect(pool.provider).toBeUndefined();
    // Its last word is the reason, not 'loading'; no load time is measured from it.
    expect(beats.at(-1)).toMatchObject({ status: description.status, reason: description.reason });
    expect(loads).toEqual([]);
  });

  it("reports 'loading' on the worker's own /metrics while it loads, then what the load came to", async () => {
    // The worker's readiness probe (deploy/worker-ready.mjs) reads its pools there: a pool still loading must not
    // read as absent, or a worker whose cloud pool consumes would be ready before its model is loaded.
    const path = join(dir, 'loading.gguf');
    await writeFile(path, 'not a model\n'.repeat(100));
    const whileLoading: string[] = [];
    await open(path, 256, async (hb) => {
      if (hb.status === 'loading') whileLoading.push(await metricsText());
    });
    const status = (text: string) => text.match(/^switchyard_pool_status\{target="local",provider="broken",.*$/gm);
    expect(whileLoading.map(status)[0]).toEqual([
      'switchyard_pool_status{target="local",provider="broken",status="loading"} 1',
    ]);
    expect(status(await metricsText())).toEqual([
      'switchyard_pool_status{target="local",provider="broken",status="failed"} 1',
    ]);
  });

  it('a model whose tensor data is cut short is reported as failing to load, not as not fitting in memory', async () => {
    const whole = await readFile(await ensureGeneratedModel('tiny'));
    const path = join(dir, 'truncated.gguf');
    // The header (read for the estimate) is whole; the weights are not.
    await writeFile(path, whole.subarray(0, Math.floor(whole.length / 2)));
    const { pool } = await open(path);

    const description = pool.describe();
    expect(description.status).toBe('failed');
    expect(description.reason).toMatch(/^could not load local model "broken" from .*truncated\.gguf: /);
    expect(description.modelBytes).toBeGreaterThan(0);
    const logged = errors.mock.calls.map(([entry]) => (entry as { msg?: string }).msg);
    expect(logged).toContain('model could not be read or loaded; pool will not consume');
    expect(logged).not.toContain('model does not fit; pool will not consume');
  });

  it("says, in its reason and a warning, that a context past the model's training length degrades", async () => {
    const warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    // The generated tiny model was trained (its GGUF says) on 4,096 tokens.
    const tiny = await ensureGeneratedModel('tiny');
    const within = (await open(tiny, 4096)).pool.describe();
    expect(within.status).toBe('consuming');
    expect(within.reason).not.toMatch(/trained on/);
    expect(warnings.mock.calls.map(([entry]) => (entry as { msg?: string }).msg)).not.toContain(
      'context past training',
    );

    const past = (await open(tiny, 8192)).pool.describe();
    expect(past.status).toBe('consuming');
    expect(past.reason).toMatch(/LOCAL_CONTEXT_SIZE 8192 is past the 4096 tokens the model was trained on/);
    expect(warnings.mock.calls.map(([entry]) => entry)).toContainEqual(
      expect.objectContaining({ msg: 'context past training', model: 'broken' }),
    );
  });
});
