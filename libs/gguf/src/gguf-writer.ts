import { open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { GgmlType, encodeGgmlValues, ggmlBlockValues, ggmlByteSize, ggmlTypeName } from './ggml-encoding.js';

/**
 * A streaming writer for GGUF v3 files (the format llama.cpp loads), as specified in
 * ggml/docs/gguf.md: header, metadata key/values, tensor infos, padding to `general.alignment`,
 * then each tensor's data, itself padded to the alignment. The header is built in memory (it is
 * small: a 32k-token vocabulary is well under 1 MB); tensor data is produced and written chunk by
 * chunk, so a file of any size needs only two chunk buffers.
 */

const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** Elements produced per fill() call: 4 MiB of float32, a multiple of every block size. */
const DEFAULT_CHUNK_ELEMENTS = 1 << 20;

const ValueType = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

type NumberType = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64';
type BigIntType = 'uint64' | 'int64';
export type GgufScalarType = NumberType | BigIntType | 'bool' | 'string';

/** A metadata value with its GGUF type spelled out (a JS number alone does not say u32 or f32). */
export type GgufValue =
  | { type: NumberType; value: number }
  | { type: BigIntType; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; itemType: NumberType; value: ArrayLike<number> }
  | { type: 'array'; itemType: BigIntType; value: readonly bigint[] }
  | { type: 'array'; itemType: 'bool'; value: readonly boolean[] }
  | { type: 'array'; itemType: 'string'; value: readonly string[] };

/** Short constructors for the metadata values a model file needs. */
export const gguf = {
  uint32: (value: number): GgufValue => ({ type: 'uint32', value }),
  int32: (value: number): GgufValue => ({ type: 'int32', value }),
  uint64: (value: bigint): GgufValue => ({ type: 'uint64', value }),
  float32: (value: number): GgufValue => ({ type: 'float32', value }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  string: (value: string): GgufValue => ({ type: 'string', value }),
  strings: (value: readonly string[]): GgufValue => ({ type: 'array', itemType: 'string', value }),
  float32s: (value: ArrayLike<number>): GgufValue => ({ type: 'array', itemType: 'float32', value }),
  int32s: (value: ArrayLike<number>): GgufValue => ({ type: 'array', itemType: 'int32', value }),
  uint32s: (value: ArrayLike<number>): GgufValue => ({ type: 'array', itemType: 'uint32', value }),
};

/**
 * Produces a tensor's values in order: called with consecutive chunks, `chunk[i]` is element
 * `firstElement + i` of the flattened tensor (ne0 varies fastest).
 */
export type TensorFill = (chunk: Float32Array, firstElement: number) => void;

export interface GgufTensor {
  name: string;
  /** GGML order: dims[0] (ne0) is the contiguous row length. */
  dims: readonly number[];
  type: GgmlType;
  fill: TensorFill;
}

export interface GgufFileLayout {
  /** Written in this order. `general.alignment` is added when missing. */
  metadata: ReadonlyArray<readonly [key: string, value: GgufValue]>;
  tensors: readonly GgufTensor[];
}

export interface GgufWriteOptions {
  chunkElements?: number;
}

export interface GgufWriteSummary {
  bytes: number;
  /** Total number of tensor elements (the parameter count, for a model). */
  elements: number;
  tensorDataOffset: number;
}

/** Writes `layout` to `path` (truncating it). Resolves once every byte is flushed to the OS. */
export async function writeGguf(
  path: string,
  layout: GgufFileLayout,
  options: GgufWriteOptions = {},
): Promise<GgufWriteSummary> {
  if (endianness() !== 'LE') throw new Error('GGUF writing assumes a little-endian machine');
  const chunkElements = options.chunkElements ?? DEFAULT_CHUNK_ELEMENTS;
  const alignment = resolveAlignment(layout.metadata);
  if (chunkElements % 32 !== 0) throw new RangeError('chunkElements must be a multiple of 32');

  const metadata = layout.metadata.some(([key]) => key === 'general.alignment')
    ? layout.metadata
    : [...layout.metadata, ['general.alignment', gguf.uint32(alignment)] as const];
  const placed = placeTensors(layout.tensors, alignment);
  const header = encodeHeader(metadata, placed, alignment);
  const dataBytes = placed.reduce((end, t) => Math.max(end, t.offset + t.bytes), 0);

  const file = await open(path, 'w');
  try {
    // `position` advances when a write is issued, so it is exact even while that write is in flight.
    let position = 0;
    const write = async (bytes: Uint8Array): Promise<void> => {
      const at = position;
      position += bytes.length;
      for (let done = 0; done < bytes.length;) {
        const { bytesWritten } = await file.write(bytes, done, bytes.length - done, at + done);
        done += bytesWritten;
      }
    };
    await write(header);
    const dataStart = position;
    const values = [new Float32Array(chunkElements), new Float32Array(chunkElements)];
    const encoded = [Buffer.alloc(chunkElements * 4), Buffer.alloc(chunkElements * 4)];
    let turn = 0;
    let pending: Promise<void> = Promise.resolve();
    for (const tensor of placed) {
      const padding = dataStart + tensor.offset - position;
      if (padding > 0) {
        await pending;
        await write(Buffer.alloc(padding));
      }
      for (let first = 0; first < tensor.elements; first += chunkElements) {
        // Two buffer pairs: this chunk is generated while the previous one is still being written.
        const chunk = values[turn]!.subarray(0, Math.min(chunkElements, tensor.elements - first));
        tensor.fill(chunk, first);
        const length = encodeGgmlValues(tensor.type, chunk, encoded[turn]!);
        const bytes = encoded[turn]!.subarray(0, length);
        await pending;
        pending = write(bytes);
        turn = 1 - turn;
      }
    }
    await pending;
    const trailing = dataStart + alignUp(dataBytes, alignment) - position;
    if (trailing > 0) await write(Buffer.alloc(trailing));
    return {
      bytes: position,
      elements: placed.reduce((sum, t) => sum + t.elements, 0),
      tensorDataOffset: dataStart,
    };
  } finally {
    await file.close();
  }
}

interface PlacedTensor extends GgufTensor {
  elements: number;
  bytes: number;
  /** Offset from the start of the tensor data section. */
  offset: number;
}

function placeTensors(tensors: readonly GgufTensor[], alignment: number): PlacedTensor[] {
  const names = new Set<string>();
  let offset = 0;
  return tensors.map((tensor) => {
    if (names.has(tensor.name)) throw new Error(`duplicate tensor name "${tensor.name}"`);
    names.add(tensor.name);
    if (
      tensor.dims.length === 0 ||
      tensor.dims.length > 4 ||
      tensor.dims.some((d) => !Number.isSafeInteger(d) || d < 1)
    ) {
      throw new RangeError(`tensor "${tensor.name}" has invalid dims [${tensor.dims.join(', ')}]`);
    }
    const block = ggmlBlockValues(tensor.type);
    if (tensor.dims[0]! % block !== 0) {
      throw new RangeError(
        `tensor "${tensor.name}": ne0=${tensor.dims[0]} is not a multiple of ${block} for ${ggmlTypeName(tensor.type)}`,
      );
    }
    const elements = tensor.dims.reduce((product, d) => product * d, 1);
    const bytes = ggmlByteSize(tensor.type, elements);
    const placed = { ...tensor, elements, bytes, offset: alignUp(offset, alignment) };
    offset = placed.offset + bytes;
    return placed;
  });
}

function resolveAlignment(metadata: GgufFileLayout['metadata']): number {
  const entry = metadata.find(([key]) => key === 'general.alignment');
  if (!entry) return GGUF_DEFAULT_ALIGNMENT;
  const [, value] = entry;
  if (value.type !== 'uint32' || value.value < 1 || value.value % 8 !== 0) {
    throw new RangeError('general.alignment must be a uint32 multiple of 8');
  }
  return value.value;
}

function encodeHeader(
  metadata: GgufFileLayout['metadata'],
  tensors: readonly PlacedTensor[],
  alignment: number,
): Buffer {
  const out = new ByteSink();
  out.uint32(GGUF_MAGIC);
  out.uint32(GGUF_VERSION);
  out.uint64(BigInt(tensors.length));
  out.uint64(BigInt(metadata.length));
  const keys = new Set<string>();
  for (const [key, value] of metadata) {
    if (keys.has(key)) throw new Error(`duplicate metadata key "${key}"`);
    keys.add(key);
    out.string(key);
    out.uint32(ValueType[value.type]);
    writeValue(out, value);
  }
  for (const tensor of tensors) {
    out.string(tensor.name);
    out.uint32(tensor.dims.length);
    for (const d of tensor.dims) out.uint64(BigInt(d));
    out.uint32(tensor.type);
    out.uint64(BigInt(tensor.offset));
  }
  out.padTo(alignment);
  return out.toBuffer();
}

function writeValue(out: ByteSink, value: GgufValue): void {
  if (value.type === 'array') {
    out.uint32(ValueType[value.itemType]);
    out.uint64(BigInt(value.value.length));
    for (let i = 0; i < value.value.length; i++) {
      writeScalar(out, value.itemType, value.value[i]!);
    }
  } else {
    writeScalar(out, value.type, value.value);
  }
}

function writeScalar(out: ByteSink, type: GgufScalarType, value: number | bigint | boolean | string): void {
  switch (type) {
    case 'string':
      return out.string(value as string);
    case 'bool':
      return out.number('uint8', value ? 1 : 0);
    case 'uint64':
      return out.uint64(value as bigint);
    case 'int64':
      return out.int64(value as bigint);
    default:
      return out.number(type, value as number);
  }
}

function alignUp(offset: number, alignment: number): number {
  return Math.ceil(offset / alignment) * alignment;
}

/** A growable little-endian byte buffer for the header. */
class ByteSink {
  private buffer = Buffer.alloc(1 << 16);
  private length = 0;

  /**
   * Returns the offset of `bytes` new bytes. It may replace `this.buffer`, so callers must call it
   * before reading `this.buffer` (not `this.buffer.writeX(v, this.reserve(n))`).
   */
  private reserve(bytes: number): number {
    if (this.length + bytes > this.buffer.length) {
      const grown = Buffer.alloc(Math.max(this.buffer.length * 2, this.length + bytes));
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    const at = this.length;
    this.length += bytes;
    return at;
  }

  uint32(value: number): void {
    const at = this.reserve(4);
    this.buffer.writeUInt32LE(value, at);
  }

  uint64(value: bigint): void {
    const at = this.reserve(8);
    this.buffer.writeBigUInt64LE(value, at);
  }

  int64(value: bigint): void {
    const at = this.reserve(8);
    this.buffer.writeBigInt64LE(value, at);
  }

  number(type: NumberType, value: number): void {
    const at = this.reserve(NUMBER_BYTES[type]);
    const b = this.buffer;
    switch (type) {
      case 'uint8':
        return void b.writeUInt8(value, at);
      case 'int8':
        return void b.writeInt8(value, at);
      case 'uint16':
        return void b.writeUInt16LE(value, at);
      case 'int16':
        return void b.writeInt16LE(value, at);
      case 'uint32':
        return void b.writeUInt32LE(value, at);
      case 'int32':
        return void b.writeInt32LE(value, at);
      case 'float32':
        return void b.writeFloatLE(value, at);
      case 'float64':
        return void b.writeDoubleLE(value, at);
    }
  }

  /** GGUF string: u64 byte length, then UTF-8 bytes, no terminator. */
  string(value: string): void {
    const bytes = Buffer.byteLength(value, 'utf8');
    this.uint64(BigInt(bytes));
    const at = this.reserve(bytes);
    this.buffer.write(value, at, 'utf8');
  }

  padTo(alignment: number): void {
    this.reserve(alignUp(this.length, alignment) - this.length);
  }

  toBuffer(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

const NUMBER_BYTES: Record<NumberType, number> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  float64: 8,
};
