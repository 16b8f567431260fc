import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batchedBenchArgs, boundLlamaRelease, locateLlamaTools, parseBatchedBench } from './batched-bench.js';

describe('llama-batched-bench as the engine limit', () => {
  it('reads its JSONL rows, skipping its log lines, and counts prompt processing in the throughput', () => {
    const out = [
      'main: n_kv_max = 2048, n_batch = 2048',
      '{"n_kv_max": 2048, "pp": 120, "tg": 32, "pl": 1, "n_kv": 152, "t_pp": 0.5, "speed_pp": 240, "t_tg": 1.5, "speed_tg": 21.3, "t": 2.0, "speed": 76}',
      '{"n_kv_max": 2048, "pp": 120, "tg": 32, "pl": 4, "n_kv": 608, "t_pp": 2.0, "speed_pp": 240, "t_tg": 3.0, "speed_tg": 42.6, "t": 5.0, "speed": 121.6}',
      '',
    ].join('\n');
    expect(parseBatchedBench(out)).toEqual([
      { sequences: 1, promptTokens: 120, generatedTokens: 32, tokensPerSec: 16, decodeTokensPerSec: 21.3 },
      { sequences: 4, promptTokens: 120, generatedTokens: 32, tokensPerSec: 25.6, decodeTokensPerSec: 42.6 },
    ]);
  });

  it('refuses a row it cannot read rather than reporting a made-up limit', () => {
    expect(() => parseBatchedBench('{"pl": 2, "pp": 120, "tg": 32}')).toThrow(/speed_tg/);
  });

  it('sizes the KV cache so every sequence holds its own prompt and answer, prompts not shared', () => {
    const args = batchedBenchArgs({
      bin: '/x',
      modelPath: '/m.gguf',
      threads: 2,
      promptTokens: 300,
      generatedTokens: 32,
      sequences: [1, 2, 8],
      gpuLayers: 0,
    });
    const at = (flag: string) => args[args.indexOf(flag) + 1];
    expect(Number(at('-c'))).toBeGreaterThanOrEqual(8 * (300 + 32));
    expect(at('-npl')).toBe('1,2,8');
    expect(at('-t')).toBe('2');
    expect(args).not.toContain('-pps');
    expect(at('--output-format')).toBe('jsonl');
  });

  it('finds the tools where LLAMA_TOOLS_BIN says, and says null where they are not built', () => {
    const root = process.cwd();
    const bin = mkdtempSync(join(tmpdir(), 'llama-bin-'));
    expect(locateLlamaTools(root, 'cpu', { LLAMA_TOOLS_BIN: bin })).toBeNull();
    writeFileSync(join(bin, 'llama-batched-bench'), '');
    expect(locateLlamaTools(root, 'cpu', { LLAMA_TOOLS_BIN: bin })).toBe(bin);
    const cache = mkdtempSync(join(tmpdir(), 'cache-'));
    expect(locateLlamaTools(root, 'cpu', { XDG_CACHE_HOME: cache })).toBeNull();
    const built = join(cache, 'switchyard', `llama.cpp-${boundLlamaRelease(root)}-cpu`, 'build', 'bin');
    mkdirSync(built, { recursive: true });
    writeFileSync(join(built, 'llama-batched-bench'), '');
    expect(locateLlamaTools(root, 'cpu', { XDG_CACHE_HOME: cache })).toBe(built);
    expect(locateLlamaTools(root, 'cuda', { XDG_CACHE_HOME: cache })).toBeNull();
  });
});
