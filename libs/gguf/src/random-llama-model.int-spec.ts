import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatMLChatWrapper, getLlama, readGgufFileInfo, resolveChatWrapper } from 'node-llama-cpp';
import { GgmlType } from './ggml-encoding.js';
import { LLAMA_PRESETS, generateRandomLlamaModel } from './random-llama-model.js';
import { TokenType } from './sentencepiece-vocabulary.js';

const sha256 = async (path: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

describe('generateRandomLlamaModel', () => {
  let dir: string;
  let tiny: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'random-llama-'));
    tiny = join(dir, 'tiny.gguf');
    await generateRandomLlamaModel(tiny, 'tiny', { seed: 7 });
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the tiny preset under 5 MB', async () => {
    const again = await generateRandomLlamaModel(join(dir, 'size.gguf'), 'tiny', { seed: 7 });
    expect(again.bytes).toBeLessThan(5 * 1024 * 1024);
    expect((await readFile(tiny)).length).toBe(again.bytes);
  });

  it('writes identical bytes for the same seed and different weights for another seed', async () => {
    const same = join(dir, 'same.gguf');
    const other = join(dir, 'other.gguf');
    await generateRandomLlamaModel(same, 'tiny', { seed: 7 });
    await generateRandomLlamaModel(other, 'tiny', { seed: 8 });
    expect(await sha256(same)).toBe(await sha256(tiny));
    expect(await sha256(other)).not.toBe(await sha256(tiny));
  });

  it('declares a complete llama architecture, tokenizer and chat template', async () => {
    const info = await readGgufFileInfo(tiny, { logWarnings: false });
    const shape = LLAMA_PRESETS.tiny;
    expect(info.metadata.general.architecture).toBe('llama');
    expect(info.architectureMetadata).toMatchObject({
      context_length: shape.contextLength,
      embedding_length: shape.embeddingLength,
      block_count: shape.blockCount,
      feed_forward_length: shape.feedForwardLength,
      attention: { head_count: shape.headCount, head_count_kv: shape.headCountKv },
      rope: { dimension_count: shape.embeddingLength / shape.headCount },
    });
    const tokenizer = info.metadata.tokenizer;
    expect(tokenizer.ggml.model).toBe('llama');
    expect(tokenizer.ggml.tokens).toHaveLength(shape.vocabSize);
    expect(tokenizer.ggml.tokens.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
    const byteTokens = tokenizer.ggml.tokens.filter((_, id) => tokenizer.ggml.token_type?.[id] === TokenType.byte);
    expect(byteTokens).toHaveLength(256);
    expect(byteTokens).toContain('<0x0A>');
    expect(new Set(tokenizer.ggml.tokens).size).toBe(shape.vocabSize);
    expect(tokenizer.chat_template).toContain('<|im_start|>');
    expect(tokenizer.ggml.tokens).toEqual(expect.arrayContaining(['<|im_start|>', '<|im_end|>']));

    const tensors = new Map(info.tensorInfo!.map((t) => [t.name, t]));
    expect(tensors.size).toBe(2 + 9 * shape.blockCount + 1);
    expect(tensors.get('token_embd.weight')!.dimensions.map(Number)).toEqual([shape.embeddingLength, shape.vocabSize]);
    expect(tensors.get('blk.1.attn_k.weight')!.dimensions.map(Number)).toEqual([shape.embeddingLength, 64]);
    expect(tensors.get('blk.1.ffn_down.weight')!.dimensions.map(Number)).toEqual([
      shape.feedForwardLength,
      shape.embeddingLength,
    ]);
    expect(tensors.get('output.weight')!.ggmlType).toBe(GgmlType.F16);
    expect(tensors.get('output_norm.weight')!.ggmlType).toBe(GgmlType.F32);
  });

  it('loads in llama.cpp and tokenizes prose and code into sensible counts', async () => {
    // llama.cpp's log reaches JavaScript late, maybe after jest closed this file's console: not printed.
    const llama = await getLlama({ gpu: false, build: 'never', maxThreads: 1, logger: () => undefined });
    try {
      const model = await llama.loadModel({ modelPath: tiny });
      try {
        const prose = 'Please summarise the following contract between the customer and the company.';
        const code = 'function add(a, b) {\n    return a + b;\n}\nconsole.log(add(1, 2));';
        const proseTokens = model.tokenize(prose).length;
        const codeTokens = model.tokenize(code).length;
        // Real 32k SentencePiece vocabularies give ~4 characters a token on prose, ~3 on code;
        // this 2k one is coarser but must not degrade to characters or bytes.
        expect(prose.length / proseTokens).toBeGreaterThan(2.5);
        expect(code.length / codeTokens).toBeGreaterThan(1.8);
        expect(model.detokenize(model.tokenize(code))).toBe(code);
        expect(model.detokenize(model.tokenize('naïve — ünïcode ✓'))).toBe('naïve — ünïcode ✓');
        // Its name says its template family, so node-llama-cpp tests ChatML first when it matches the Jinja
        // template to a wrapper (about 1 s less CPU per process that loads it); the template still decides.
        expect(model.fileInfo.metadata.general.name).toMatch(/chatml/i);
        expect(resolveChatWrapper(model)).toBeInstanceOf(ChatMLChatWrapper);
      } finally {
        await model.dispose();
      }
    } finally {
      await llama.dispose();
    }
  });
});
