import { GgmlType } from './ggml-encoding.js';
import { type GgufTensor, type GgufValue, type TensorFill, gguf, writeGguf } from './gguf-writer.js';
import { constantFill, normalishFill, tensorSeed } from './seeded-weights.js';
import { TokenType, buildSentencePieceVocabulary } from './sentencepiece-vocabulary.js';

/**
 * Random-weight `llama` GGUF files, like vLLM's dummy load format: the real loader, tokenizer, chat
 * template and kernels run at a realistic shape, without downloading weights. The text they
 * produce is noise; what is real is its cost (tokens, time, memory).
 */

export type LlamaWeightType = 'F32' | 'F16' | 'Q8_0';

export interface LlamaShape {
  vocabSize: number;
  contextLength: number;
  embeddingLength: number;
  blockCount: number;
  feedForwardLength: number;
  headCount: number;
  headCountKv: number;
  /** Type of the 2-D weight matrices; norms are always F32. */
  weightType: LlamaWeightType;
}

export const LLAMA_PRESETS = {
  /** ~1.5 MB: for tests; loads and generates in milliseconds. */
  tiny: {
    vocabSize: 2048,
    contextLength: 4096,
    embeddingLength: 128,
    blockCount: 2,
    feedForwardLength: 384,
    headCount: 4,
    headCountKv: 2,
    weightType: 'F16',
  },
  /** ~50 MB: a step up for integration runs. */
  small: {
    vocabSize: 8192,
    contextLength: 4096,
    embeddingLength: 512,
    blockCount: 6,
    feedForwardLength: 1408,
    headCount: 8,
    headCountKv: 4,
    weightType: 'F16',
  },
  /** ~490 MB, 245M parameters: a small real model's shape (32k vocabulary, GQA) for benchmarks. */
  bench: {
    vocabSize: 32000,
    contextLength: 4096,
    embeddingLength: 1024,
    blockCount: 16,
    feedForwardLength: 2816,
    headCount: 16,
    headCountKv: 4,
    weightType: 'F16',
  },
} as const satisfies Record<string, LlamaShape>;

export type LlamaPreset = keyof typeof LLAMA_PRESETS;

export function isLlamaPreset(name: string): name is LlamaPreset {
  return Object.hasOwn(LLAMA_PRESETS, name);
}

export interface GenerateOptions {
  seed?: number;
  /**
   * Name stored in general.name; defaults to "random-llama-chatml". node-llama-cpp's resolveChatWrapper ranks
   * its chat wrappers by the model's name before testing which one renders the model's Jinja template alike, so
   * a name that says the template family (ChatML, as CHATML_TEMPLATE) has it test ChatML first: measured here,
   * 15–110 ms instead of 0.9–1.3 s of CPU in every process that loads the model (each API and worker start).
   */
  name?: string;
}

export interface GeneratedModel {
  path: string;
  bytes: number;
  params: number;
  shape: LlamaShape;
  seed: number;
}

export const DEFAULT_MODEL_SEED = 1;
const WEIGHT_STD = 0.02;
const ROPE_FREQ_BASE = 10000;
const RMS_NORM_EPSILON = 1e-5;
const FILE_TYPE: Record<LlamaWeightType, number> = { F32: 0, F16: 1, Q8_0: 7 }; // llama_ftype
const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Writes a random llama model to `outPath`; the same shape and seed always give the same bytes. */
export async function generateRandomLlamaModel(
  outPath: string,
  shape: LlamaShape | LlamaPreset,
  { seed = DEFAULT_MODEL_SEED, name = 'random-llama-chatml' }: GenerateOptions = {},
): Promise<GeneratedModel> {
  const resolved: LlamaShape = typeof shape === 'string' ? LLAMA_PRESETS[shape] : shape;
  validateShape(resolved);
  const { bytes, elements } = await writeGguf(outPath, {
    metadata: llamaMetadata(resolved, name, seed),
    tensors: llamaTensors(resolved, seed),
  });
  return { path: outPath, bytes, params: elements, shape: resolved, seed };
}

function validateShape(shape: LlamaShape): void {
  const positive = Object.entries(shape).filter(([key]) => key !== 'weightType');
  for (const [key, value] of positive) {
    if (!Number.isSafeInteger(value) || (value as number) < 1)
      throw new RangeError(`shape.${key} must be a positive integer`);
  }
  if (shape.embeddingLength % shape.headCount !== 0) throw new RangeError('embeddingLength must divide by headCount');
  if (shape.headCount % shape.headCountKv !== 0) throw new RangeError('headCount must divide by headCountKv');
  if ((shape.embeddingLength / shape.headCount) % 2 !== 0) throw new RangeError('head size must be even for RoPE');
  if (shape.weightType === 'Q8_0' && (shape.embeddingLength % 32 !== 0 || shape.feedForwardLength % 32 !== 0)) {
    throw new RangeError('Q8_0 needs embeddingLength and feedForwardLength to be multiples of 32');
  }
}

function llamaMetadata(shape: LlamaShape, name: string, seed: number): Array<[string, GgufValue]> {
  const vocab = buildSentencePieceVocabulary(shape.vocabSize);
  const headSize = shape.embeddingLength / shape.headCount;
  return [
    ['general.architecture', gguf.string('llama')],
    ['general.name', gguf.string(name)],
    ['general.description', gguf.string(`random weights (seed ${seed}), not a trained model`)],
    ['general.file_type', gguf.uint32(FILE_TYPE[shape.weightType])],
    ['general.quantization_version', gguf.uint32(2)],
    ['general.alignment', gguf.uint32(32)],
    ['llama.vocab_size', gguf.uint32(shape.vocabSize)],
    ['llama.context_length', gguf.uint32(shape.contextLength)],
    ['llama.embedding_length', gguf.uint32(shape.embeddingLength)],
    ['llama.block_count', gguf.uint32(shape.blockCount)],
    ['llama.feed_forward_length', gguf.uint32(shape.feedForwardLength)],
    ['llama.attention.head_count', gguf.uint32(shape.headCount)],
    ['llama.attention.head_count_kv', gguf.uint32(shape.headCountKv)],
    ['llama.attention.layer_norm_rms_epsilon', gguf.float32(RMS_NORM_EPSILON)],
    ['llama.rope.dimension_count', gguf.uint32(headSize)],
    ['llama.rope.freq_base', gguf.float32(ROPE_FREQ_BASE)],
    ['tokenizer.ggml.model', gguf.string('llama')],
    ['tokenizer.ggml.tokens', gguf.strings(vocab.tokens)],
    ['tokenizer.ggml.scores', gguf.float32s(vocab.scores)],
    ['tokenizer.ggml.token_type', gguf.int32s(vocab.types)],
    ['tokenizer.ggml.bos_token_id', gguf.uint32(vocab.bosId)],
    ['tokenizer.ggml.eos_token_id', gguf.uint32(vocab.eosId)],
    ['tokenizer.ggml.unknown_token_id', gguf.uint32(vocab.unknownId)],
    ['tokenizer.ggml.padding_token_id', gguf.uint32(vocab.unknownId)],
    ['tokenizer.ggml.add_bos_token', gguf.bool(true)],
    ['tokenizer.ggml.add_eos_token', gguf.bool(false)],
    ['tokenizer.ggml.add_space_prefix', gguf.bool(true)],
    ['tokenizer.chat_template', gguf.string(CHATML_TEMPLATE)],
  ];
}

function llamaTensors(shape: LlamaShape, seed: number): GgufTensor[] {
  const { embeddingLength: dim, feedForwardLength: ff, vocabSize } = shape;
  const kvDim = (dim / shape.headCount) * shape.headCountKv;
  const type = GgmlType[shape.weightType];
  const matrix = (name: string, dims: [number, number]): GgufTensor => ({
    name,
    dims,
    type,
    fill: normalishFill(tensorSeed(seed, name), WEIGHT_STD),
  });
  const norm = (name: string): GgufTensor => ({ name, dims: [dim], type: GgmlType.F32, fill: constantFill(1) });

  const tensors: GgufTensor[] = [matrix('token_embd.weight', [dim, vocabSize])];
  for (let block = 0; block < shape.blockCount; block++) {
    const prefix = `blk.${block}`;
    tensors.push(
      norm(`${prefix}.attn_norm.weight`),
      matrix(`${prefix}.attn_q.weight`, [dim, dim]),
      matrix(`${prefix}.attn_k.weight`, [dim, kvDim]),
      matrix(`${prefix}.attn_v.weight`, [dim, kvDim]),
      matrix(`${prefix}.attn_output.weight`, [dim, dim]),
      norm(`${prefix}.ffn_norm.weight`),
      matrix(`${prefix}.ffn_gate.weight`, [dim, ff]),
      matrix(`${prefix}.ffn_up.weight`, [dim, ff]),
      matrix(`${prefix}.ffn_down.weight`, [ff, dim]),
    );
  }
  tensors.push(norm('output_norm.weight'));
  const output = matrix('output.weight', [dim, vocabSize]);
  tensors.push({ ...output, fill: withSilentSpecialTokens(output.fill, shape) });
  return tensors;
}

/**
 * Zeroes the output rows of control and unknown tokens. Their logit is then exactly 0 while the
 * ordinary tokens' logits spread around it, so greedy decoding never picks an end-of-turn token
 * and a random model generates until maxTokens, as a benchmark wants.
 */
function withSilentSpecialTokens(fill: TensorFill, shape: LlamaShape): TensorFill {
  const { types } = buildSentencePieceVocabulary(shape.vocabSize);
  const dim = shape.embeddingLength;
  const silent: number[] = [];
  types.forEach((type, token) => {
    if (type === TokenType.control || type === TokenType.unknown) silent.push(token);
  });
  return (chunk, firstElement) => {
    fill(chunk, firstElement);
    const end = firstElement + chunk.length;
    for (const token of silent) {
      const from = Math.max(token * dim, firstElement);
      const to = Math.min((token + 1) * dim, end);
      if (from < to) chunk.fill(0, from - firstElement, to - firstElement);
    }
  };
}
