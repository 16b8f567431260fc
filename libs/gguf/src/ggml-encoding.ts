/**
 * Encoders from float32 values to the on-disk GGML tensor types this repo writes.
 * Little-endian only, like every GGUF file llama.cpp reads.
 */

/** The GGML tensor types the writer supports, with their numeric ids from ggml.h. */
export const GgmlType = { F32: 0, F16: 1, Q8_0: 8 } as const;
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];

/** Q8_0 packs 32 values as one f16 scale and 32 int8s: 34 bytes a block. */
export const Q8_0_BLOCK_VALUES = 32;
const Q8_0_BLOCK_BYTES = 2 + Q8_0_BLOCK_VALUES;

/** How many elements must make up one encoding unit (a row's length must be a multiple). */
export function ggmlBlockValues(type: GgmlType): number {
  return type === GgmlType.Q8_0 ? Q8_0_BLOCK_VALUES : 1;
}

export function ggmlTypeName(type: GgmlType): string {
  return type === GgmlType.F32 ? 'F32' : type === GgmlType.F16 ? 'F16' : 'Q8_0';
}

/** Bytes that `elements` values take in `type` (elements must be a multiple of the block size). */
export function ggmlByteSize(type: GgmlType, elements: number): number {
  switch (type) {
    case GgmlType.F32:
      return elements * 4;
    case GgmlType.F16:
      return elements * 2;
    case GgmlType.Q8_0:
      return (elements / Q8_0_BLOCK_VALUES) * Q8_0_BLOCK_BYTES;
  }
}

const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of `value`, rounded to nearest even (what ggml's own converter does). */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  return float32BitsToFloat16Bits(f32Bits[0]!);
}

function float32BitsToFloat16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const rawExponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (rawExponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const exponent = rawExponent - 127 + 15;
  if (exponent >= 31) return sign | 0x7c00;
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - exponent;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    if (rest > midpoint || (rest === midpoint && (half & 1) === 1)) half++;
    return sign | half;
  }
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  let half = (exponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

/**
 * Encodes `values` as `type` into `out` (which must hold ggmlByteSize(type, values.length) bytes)
 * and returns the number of bytes written.
 */
export function encodeGgmlValues(type: GgmlType, values: Float32Array, out: Buffer): number {
  const bytes = ggmlByteSize(type, values.length);
  if (out.length < bytes) throw new RangeError(`encode buffer holds ${out.length} bytes, ${bytes} needed`);
  switch (type) {
    case GgmlType.F32:
      out.set(new Uint8Array(values.buffer, values.byteOffset, bytes));
      return bytes;
    case GgmlType.F16: {
      const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
      if (out.byteOffset % 2 === 0) {
        const halves = new Uint16Array(out.buffer, out.byteOffset, values.length);
        for (let i = 0; i < bits.length; i++) halves[i] = float32BitsToFloat16Bits(bits[i]!);
      } else {
        for (let i = 0; i < bits.length; i++) out.writeUInt16LE(float32BitsToFloat16Bits(bits[i]!), i * 2);
      }
      return bytes;
    }
    case GgmlType.Q8_0:
      encodeQ8_0(values, out);
      return bytes;
  }
}

/** Same arithmetic as ggml's quantize_row_q8_0_ref: scale = max|x| / 127, q = round(x / scale). */
function encodeQ8_0(values: Float32Array, out: Buffer): void {
  if (values.length % Q8_0_BLOCK_VALUES !== 0) {
    throw new RangeError(`Q8_0 needs a multiple of ${Q8_0_BLOCK_VALUES} values, got ${values.length}`);
  }
  const quants = new Int8Array(out.buffer, out.byteOffset, out.length);
  for (let block = 0, at = 0; block < values.length; block += Q8_0_BLOCK_VALUES, at += Q8_0_BLOCK_BYTES) {
    let absMax = 0;
    for (let j = 0; j < Q8_0_BLOCK_VALUES; j++) absMax = Math.max(absMax, Math.abs(values[block + j]!));
    const scale = absMax / 127;
    const inverse = scale === 0 ? 0 : 1 / scale;
    out.writeUInt16LE(float32ToFloat16Bits(scale), at);
    for (let j = 0; j < Q8_0_BLOCK_VALUES; j++) {
      const x = values[block + j]! * inverse;
      // roundf: halves away from zero (Math.round alone rounds -2.5 to -2).
      quants[at + 2 + j] = x < 0 ? -Math.round(-x) : Math.round(x);
    }
  }
}
