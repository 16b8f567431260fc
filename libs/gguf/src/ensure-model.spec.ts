import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultModelPath, ensureGeneratedModel } from './ensure-model.js';

describe('ensureGeneratedModel', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ensure-model-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('defaults to models/<preset>.gguf under the working directory', () => {
    expect(defaultModelPath('bench')).toBe(join(process.cwd(), 'models', 'bench.gguf'));
  });

  it('generates a missing model once, even for concurrent callers, and leaves no temporary file', async () => {
    const target = join(dir, 'nested', 'tiny.gguf');
    const paths = await Promise.all([ensureGeneratedModel('tiny', target), ensureGeneratedModel('tiny', target)]);
    expect(paths).toEqual([target, target]);
    expect((await stat(target)).size).toBeGreaterThan(1_000_000);
    expect(await readdir(join(dir, 'nested'))).toEqual(['tiny.gguf']);
  });

  it('keeps an existing file as it is', async () => {
    const target = join(dir, 'existing.gguf');
    await writeFile(target, 'not regenerated');
    await expect(ensureGeneratedModel('tiny', target)).resolves.toBe(target);
    expect((await stat(target)).size).toBe('not regenerated'.length);
  });
});
