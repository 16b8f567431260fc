import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type GeneratedModel, type LlamaPreset, generateRandomLlamaModel } from './random-llama-model.js';

/** Where a preset's generated model lives by default: `models/<preset>.gguf` under the working directory. */
export function defaultModelPath(preset: LlamaPreset): string {
  return resolve(process.cwd(), 'models', `${preset}.gguf`);
}

const inFlight = new Map<string, Promise<string>>();

/**
 * Returns the path of the preset's generated model, generating it (default seed) only when the
 * file is missing. The file is written under a unique temporary name and renamed into place, so
 * concurrent callers, even in other processes, and crashed runs never expose a partial file:
 * a reader sees either no file or a complete one (generation is deterministic, so whichever
 * writer's rename lands last leaves the same bytes).
 */
export function ensureGeneratedModel(preset: LlamaPreset, path: string = defaultModelPath(preset)): Promise<string> {
  const target = resolve(path);
  let pending = inFlight.get(target);
  if (!pending) {
    pending = generateIfMissing(preset, target).finally(() => inFlight.delete(target));
    inFlight.set(target, pending);
  }
  return pending;
}

async function generateIfMissing(preset: LlamaPreset, target: string): Promise<string> {
  if (await isFile(target)) return target;
  await writeModelAtomically(preset, target);
  return target;
}

/** Generates into a sibling temporary file, then renames it over `target`. */
export async function writeModelAtomically(
  preset: LlamaPreset,
  target: string,
  seed?: number,
): Promise<GeneratedModel> {
  await mkdir(dirname(target), { recursive: true });
  const temporary = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const generated = await generateRandomLlamaModel(temporary, preset, {
      seed,
      name: `random-llama-chatml-${preset}`,
    });
    await rename(temporary, target);
    return { ...generated, path: target };
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
