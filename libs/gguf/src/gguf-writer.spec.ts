import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { GgmlType, float32ToFloat16Bits } from './ggml-encoding.js';
import { type GgufFileLayout, gguf, writeGguf } from './gguf-writer.js';

const ramp = (scale: number) => (chunk: Float32Array, first: number) => {
  for (let i = 0; i < chunk.length; i++) chunk[i] = (first + i) * scale;
};

// 20k strings push the header well past the writer's initial 64 KiB buffer.
const manyStrings = Array.from({ length: 20_000 }, (_, i) => `piece-${i}`);

const layout: GgufFileLayout = {
  metadata: [
    ['general.architecture', gguf.string('llama')],
    ['test.u32', gguf.uint32(4_000_000_000)],
    ['test.i32', gguf.int32(-7)],
    ['test.u64', gguf.uint64(2n ** 40n)],
    ['test.f32', gguf.float32(0.25)],
    ['test.f64', { type: 'float64', value: Math.PI }],
    ['test.u8', { type: 'uint8', value: 200 }],
    ['test.i16', { type: 'int16', value: -300 }],
    ['test.bool', gguf.bool(true)],
    ['test.string', gguf.string('héllo ▁wörld')],
    ['test.strings', gguf.strings(manyStrings)],
    ['test.floats', gguf.float32s(Float32Array.of(0.5, -1.5))],
    ['test.ints', gguf.int32s([3, -4, 5])],
  ],
  tensors: [
    { name: 'a.f32', dims: [3, 5], type: GgmlType.F32, fill: ramp(1) },
    { name: 'b.f16', dims: [7], type: GgmlType.F16, fill: ramp(0.5) },
    { name: 'c.q8', dims: [64, 2], type: GgmlType.Q8_0, fill: ramp(0.01) },
    { name: 'd.f32', dims: [1000], type: GgmlType.F32, fill: ramp(-1) },
  ],
};

describe('writeGguf', () => {
  let dir: string;
  let path: string;
  let summary: Awaited<ReturnType<typeof writeGguf>>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gguf-writer-'));
    path = join(dir, 'test.gguf');
    // A chunk of 64 elements makes every multi-chunk and padding path run.
    summary = await writeGguf(path, layout, { chunkElements: 64 });
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a GGUF v3 file whose metadata node-llama-cpp reads back value for value', async () => {
    const info = await readGgufFileInfo(path, { logWarnings: false });
    const raw = info.metadata as unknown as Record<string, Record<string, unknown>>;
    expect(info.version).toBe(3);
    expect(Number(info.tensorCount)).toBe(4);
    expect(raw.general).toMatchObject({ architecture: 'llama', alignment: 32 });
    expect(raw.test).toMatchObject({
      u32: 4_000_000_000,
      i32: -7,
      u64: 2n ** 40n,
      f32: 0.25,
      f64: Math.PI,
      u8: 200,
      i16: -300,
      bool: true,
      string: 'héllo ▁wörld',
      floats: [0.5, -1.5],
      ints: [3, -4, 5],
    });
    expect(raw.test!.strings).toEqual(manyStrings);
  });

  it('lists every tensor with its dims, type and a 32-byte aligned offset', async () => {
    const info = await readGgufFileInfo(path, { logWarnings: false });
    const tensors = info.tensorInfo!.map((t) => ({
      name: t.name,
      dims: t.dimensions.map(Number),
      type: t.ggmlType,
      offset: Number(t.offset),
    }));
    expect(tensors).toEqual([
      { name: 'a.f32', dims: [3, 5], type: GgmlType.F32, offset: 0 },
      { name: 'b.f16', dims: [7], type: GgmlType.F16, offset: 64 }, // 60 bytes, padded to 64
      { name: 'c.q8', dims: [64, 2], type: GgmlType.Q8_0, offset: 96 }, // 14 bytes, padded to 32
      { name: 'd.f32', dims: [1000], type: GgmlType.F32, offset: 96 + 160 }, // 4 blocks of 34 bytes = 136, padded to 160
    ]);
    expect(info.infoEndOffset).toBe(summary.tensorDataOffset);
    expect(summary.tensorDataOffset % 32).toBe(0);
    expect(summary.bytes).toBe(summary.tensorDataOffset + 256 + 4000);
    expect(summary.elements).toBe(15 + 7 + 128 + 1000);
  });

  it('stores the values each tensor fill produced, across chunk boundaries', async () => {
    const bytes = await readFile(path);
    expect(bytes.length).toBe(summary.bytes);
    const data = summary.tensorDataOffset;
    const a = new Float32Array(bytes.buffer.slice(bytes.byteOffset + data, bytes.byteOffset + data + 60));
    expect([...a]).toEqual(Array.from({ length: 15 }, (_, i) => i));
    expect(bytes.readUInt16LE(data + 64 + 2 * 3)).toBe(float32ToFloat16Bits(1.5));
    const d = new Float32Array(bytes.buffer.slice(bytes.byteOffset + data + 256, bytes.byteOffset + data + 256 + 4000));
    expect(d[0]).toBe(-0);
    expect(d[999]).toBe(-999);
    expect(d[64]).toBe(-64); // first element of the second chunk
  });

  it('refuses a row length that does not fill whole Q8_0 blocks', async () => {
    await expect(
      writeGguf(join(dir, 'bad.gguf'), {
        metadata: [],
        tensors: [{ name: 'q', dims: [48], type: GgmlType.Q8_0, fill: ramp(1) }],
      }),
    ).rejects.toThrow(/multiple of 32/);
  });
});
