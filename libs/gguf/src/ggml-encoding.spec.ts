import { describe, expect, it } from '@jest/globals';
import { GgmlType, encodeGgmlValues, float32ToFloat16Bits, ggmlByteSize } from './ggml-encoding.js';

describe('float32ToFloat16Bits', () => {
  it.each([
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff], // largest finite half
    [65520, 0x7c00], // rounds up to infinity
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -26, 0x0000], // below half the smallest subnormal: flushes to zero
    [1 + 2 ** -11, 0x3c00], // tie: rounds to even (down)
    [1 + 3 * 2 ** -11, 0x3c02], // tie: rounds to even (up)
  ])('encodes %p as 0x%s', (value, bits) => {
    expect(float32ToFloat16Bits(value)).toBe(bits);
  });

  it('keeps NaN a NaN', () => {
    const bits = float32ToFloat16Bits(NaN);
    expect(bits & 0x7c00).toBe(0x7c00);
    expect(bits & 0x3ff).not.toBe(0);
  });
});

describe('encodeGgmlValues', () => {
  it('writes F16 little-endian, two bytes a value', () => {
    const out = Buffer.alloc(ggmlByteSize(GgmlType.F16, 2));
    encodeGgmlValues(GgmlType.F16, Float32Array.of(1, -2), out);
    expect([...out]).toEqual([0x00, 0x3c, 0x00, 0xc0]);
  });

  it('quantises Q8_0 blocks as an f16 scale of max|x|/127 followed by 32 int8s', () => {
    const values = Float32Array.from({ length: 32 }, (_, i) => (i - 16) / 16);
    const out = Buffer.alloc(ggmlByteSize(GgmlType.Q8_0, 32));
    expect(encodeGgmlValues(GgmlType.Q8_0, values, out)).toBe(34);
    expect(out.readUInt16LE(0)).toBe(float32ToFloat16Bits(1 / 127));
    expect(out.readInt8(2)).toBe(-127);
    expect(out.readInt8(2 + 16)).toBe(0);
    expect(out.readInt8(2 + 24)).toBe(Math.round((8 / 16) * 127));
  });
});
