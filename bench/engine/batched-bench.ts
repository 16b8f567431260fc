import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * llama.cpp's own batched throughput, the engine's limit that node-llama-cpp and the queue are measured
 * against (issue 17 §3): `llama-batched-bench`, built once by bench/engine/build-llama-tools.sh from the
 * source bundle node-llama-cpp ships, so it is the same llama.cpp the worker binds.
 */
export interface EngineLimitRow {
  /** Sequences decoding at once (llama-batched-bench's `pl`). */
  sequences: number;
  promptTokens: number;
  generatedTokens: number;
  /** Generated tokens per second of the whole run, prompt processing included (what the raw and queue runs measure). */
  tokensPerSec: number;
  /** Generated tokens per second while only generating (llama-batched-bench's S_TG). */
  decodeTokensPerSec: number;
}

/** The llama.cpp release node-llama-cpp binds (its llama.cpp.info.json `tag`). */
export function boundLlamaRelease(repoRoot: string): string {
  const info = JSON.parse(
    readFileSync(join(repoRoot, 'node_modules/node-llama-cpp/llama/llama.cpp.info.json'), 'utf8'),
  ) as { tag: string };
  return info.tag;
}

/**
 * Where build-llama-tools.sh put the tools: LLAMA_TOOLS_BIN when set, else its default cache directory.
 * Null when they are not built (the bench then says how to build them).
 */
export function locateLlamaTools(repoRoot: string, device: 'cpu' | 'cuda', env = process.env): string | null {
  const cache = env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  const bin =
    env.LLAMA_TOOLS_BIN ??
    join(cache, 'switchyard', `llama.cpp-${boundLlamaRelease(repoRoot)}-${device}`, 'build', 'bin');
  return existsSync(join(bin, 'llama-batched-bench')) ? bin : null;
}

export interface BatchedBenchOptions {
  bin: string;
  modelPath: string;
  threads: number;
  promptTokens: number;
  generatedTokens: number;
  sequences: readonly number[];
  /** Offload every layer (a GPU build); 0 on CPU. */
  gpuLayers: number;
}

/** The command line: prompts not shared (each sequence its own, as the queue's items are), KV sized for the largest N. */
export function batchedBenchArgs(o: BatchedBenchOptions): string[] {
  // Each sequence gets its own slice of the KV cache (padded by llama.cpp to 256 cells): room for one item and a slice to spare.
  const perSequence = Math.ceil((o.promptTokens + o.generatedTokens) / 256) * 256 + 256;
  const kv = Math.max(...o.sequences) * perSequence;
  return [
    '-m',
    o.modelPath,
    '-c',
    String(kv),
    '-b',
    '2048',
    '-ub',
    '512',
    '-npp',
    String(o.promptTokens),
    '-ntg',
    String(o.generatedTokens),
    '-npl',
    o.sequences.join(','),
    '-t',
    String(o.threads),
    '-tb',
    String(o.threads),
    '-ngl',
    String(o.gpuLayers),
    '--output-format',
    'jsonl',
  ];
}

/** Rows of llama-batched-bench's JSONL output (other lines — its logs — are skipped). */
export function parseBatchedBench(stdout: string): EngineLimitRow[] {
  const rows: EngineLimitRow[] = [];
  for (const line of stdout.split('\n')) {
    const text = line.trim();
    if (!text.startsWith('{')) continue;
    const r = JSON.parse(text) as Record<string, number>;
    if (![r.pl, r.pp, r.tg, r.t, r.speed_tg].every((v) => typeof v === 'number' && Number.isFinite(v)))
      throw new Error(`llama-batched-bench row without pl/pp/tg/t/speed_tg: ${text}`);
    rows.push({
      sequences: r.pl,
      promptTokens: r.pp,
      generatedTokens: r.tg,
      tokensPerSec: (r.pl * r.tg) / r.t,
      decodeTokensPerSec: r.speed_tg,
    });
  }
  return rows;
}

export async function runBatchedBench(o: BatchedBenchOptions): Promise<EngineLimitRow[]> {
  const { stdout } = await promisify(execFile)(join(o.bin, 'llama-batched-bench'), batchedBenchArgs(o), {
    maxBuffer: 16 * 1024 * 1024,
  });
  const rows = parseBatchedBench(stdout);
  const missing = o.sequences.filter((n) => !rows.some((r) => r.sequences === n));
  if (missing.length > 0) throw new Error(`llama-batched-bench gave no row for N = ${missing.join(', ')}`);
  return rows;
}
