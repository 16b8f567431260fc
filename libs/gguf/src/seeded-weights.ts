import type { TensorFill } from './gguf-writer.js';

/**
 * Seeded weight streams for random models. Each tensor draws from its own generator, seeded from
 * (model seed, tensor name), so a tensor's values do not depend on chunk sizes or tensor order.
 */

/** FNV-1a over the name, mixed with the seed through a murmur3-style finaliser. */
export function tensorSeed(seed: number, name: string): number {
  let hash = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 0;
}

/** Standard deviation of the sum of two independent uniform 16-bit integers. */
const TRIANGULAR_STD = Math.sqrt((2 * (65536 * 65536 - 1)) / 12);

/**
 * Zero-mean values with standard deviation `std`: the sum of the two 16-bit halves of one
 * mulberry32 draw (a triangular distribution, bounded by ±2.45·std, so never NaN or inf).
 * One 32-bit draw per value keeps a 250M-parameter model at a couple of seconds of CPU.
 */
export function normalishFill(seed: number, std: number): TensorFill {
  let state = seed >>> 0;
  let expected = 0;
  const scale = std / TRIANGULAR_STD;
  return (chunk, firstElement) => {
    if (firstElement !== expected) throw new Error(`fill expected element ${expected}, got ${firstElement}`);
    expected += chunk.length;
    let s = state;
    for (let i = 0; i < chunk.length; i++) {
      // mulberry32
      s = (s + 0x6d2b79f5) | 0;
      let t = Math.imul(s ^ (s >>> 15), 1 | s);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      t = (t ^ (t >>> 14)) >>> 0;
      chunk[i] = ((t & 0xffff) + (t >>> 16) - 65535) * scale;
    }
    state = s;
  };
}

export function constantFill(value: number): TensorFill {
  return (chunk) => void chunk.fill(value);
}
