import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readGgufFileInfo } from 'node-llama-cpp';
import { DEFAULT_MODEL_SEED, LLAMA_PRESETS, defaultModelPath, isLlamaPreset, writeModelAtomically } from '#libs/gguf';

/**
 * node dist/apps/cli/src/generate-model.js [--preset tiny|small|bench] [--out path] [--seed n] [--force]
 *
 * Writes a random-weight llama GGUF file and prints one JSON line: path, bytes, params, shape.
 * An existing file is kept (and described, with "generated": false) unless --force is given.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      preset: { type: 'string', default: 'tiny' },
      out: { type: 'string' },
      seed: { type: 'string', default: String(DEFAULT_MODEL_SEED) },
      force: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const preset = values.preset;
  if (!isLlamaPreset(preset)) {
    throw new Error(`--preset must be one of ${Object.keys(LLAMA_PRESETS).join('|')}, got "${preset}"`);
  }
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`--seed must be an integer in [0, 2^32), got "${values.seed}"`);
  }
  const path = values.out ? resolve(values.out) : defaultModelPath(preset);
  const existing = await stat(path).catch(() => null);
  if (existing && !values.force) {
    // The file may come from another generator version or seed: describe what is on disk.
    const info = await readGgufFileInfo(path, {
      logWarnings: false,
      ignoreKeys: ['tokenizer.ggml.tokens', 'tokenizer.ggml.scores', 'tokenizer.ggml.token_type'],
    });
    const params = (info.tensorInfo ?? []).reduce(
      (sum, tensor) => sum + tensor.dimensions.reduce<number>((product, d) => product * Number(d), 1),
      0,
    );
    console.log(
      JSON.stringify({
        path,
        bytes: existing.size,
        params,
        preset,
        name: info.metadata.general.name,
        generated: false,
      }),
    );
    return;
  }
  const started = performance.now();
  const model = await writeModelAtomically(preset, path, seed);
  console.log(
    JSON.stringify({
      path: model.path,
      bytes: model.bytes,
      params: model.params,
      preset,
      seed: model.seed,
      shape: model.shape,
      generated: true,
      ms: Math.round(performance.now() - started),
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
