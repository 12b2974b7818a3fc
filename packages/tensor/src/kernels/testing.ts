/**
 * Random weights and inputs for the kernel tests and the benchmark: a seeded
 * generator and raw data in every weight format.
 */
import { assertNever } from "../dtype.js";
import type { WeightFormat } from "./format.js";
import { type HostWeight, widenRow } from "./reference.js";

/** mulberry32: a small seeded generator, so failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [-scale, scale). */
export function randomFloats(random: () => number, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (random() * 2 - 1) * scale;
  return a;
}

/**
 * A random [rows, cols] weight in `format`, as raw data. f16 draws raw bits
 * with exponents 0..16 (zeros and subnormals included, no inf/NaN); bf16 draws
 * values of magnitude up to 2; q8 draws int8 in [-127, 127] and positive scales.
 */
export function randomWeight(
  random: () => number,
  format: WeightFormat,
  rows: number,
  cols: number,
  blockSize = 0,
): HostWeight & { blockSize: number } {
  const n = rows * cols;
  switch (format) {
    case "f32":
      return { format, rows, cols, blockSize: 0, data: new Uint8Array(randomFloats(random, n).buffer) };
    case "bf16": {
      const bits = new Uint16Array(n);
      const f = randomFloats(random, n, 2);
      const u = new Uint32Array(f.buffer);
      for (let i = 0; i < n; i++) bits[i] = u[i]! >>> 16;
      return { format, rows, cols, blockSize: 0, data: new Uint8Array(bits.buffer) };
    }
    case "f16": {
      const bits = new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        const sign = random() < 0.5 ? 0x8000 : 0;
        const exponent = Math.floor(random() * 17);
        bits[i] = sign | (exponent << 10) | Math.floor(random() * 1024);
      }
      return { format, rows, cols, blockSize: 0, data: new Uint8Array(bits.buffer) };
    }
    case "q8": {
      const q = new Int8Array(n);
      for (let i = 0; i < n; i++) q[i] = Math.floor(random() * 255) - 127;
      const scales = new Float32Array(n / blockSize);
      for (let i = 0; i < scales.length; i++) scales[i] = 0.001 + random() * 0.02;
      return { format, rows, cols, blockSize, data: new Uint8Array(q.buffer), scales };
    }
    default:
      return assertNever(format);
  }
}

/** The whole weight widened to f32: [rows, cols]. */
export function widenAll(w: HostWeight): Float32Array {
  const out = new Float32Array(w.rows * w.cols);
  for (let r = 0; r < w.rows; r++) widenRow(w, r, out.subarray(r * w.cols, (r + 1) * w.cols));
  return out;
}
