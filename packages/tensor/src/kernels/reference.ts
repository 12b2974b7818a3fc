/**
 * Plain TypeScript versions of the kernels: the truth the WebAssembly kernels
 * are tested against (widening through convert.ts, which the kernels share no
 * code with), and the row widening and quantizing readRow and quantizeWeight use.
 */
import { bf16ArrayToF32, f16ArrayToF32 } from "../convert.js";
import { assertNever } from "../dtype.js";
import { type WeightFormat, elementBytes, weightLayout } from "./format.js";

/** A weight as plain arrays, in any format (what matmulReference reads). */
export interface HostWeight {
  format: WeightFormat;
  rows: number; // N
  cols: number; // K
  /** q8 only (K elements per scale); ignored otherwise. */
  blockSize?: number;
  /** Raw elements: f32 values, bf16/f16 bits, or int8, as bytes; [rows, cols] elements. */
  data: Uint8Array;
  /** q8 only: [rows, cols / blockSize]. */
  scales?: Float32Array;
}

/**
 * Quantizes one row symmetrically to int8 per block, in f32 arithmetic like
 * the kernel quantize_q8_row (same bits): scale = max|w| / 127,
 * q = round-half-even(w * (127 / max|w|)). An all-zero block gets scale 0.
 */
export function quantizeRowQ8(
  src: Float32Array, // [K]
  blockSize: number,
  q: Int8Array, // [K]
  scales: Float32Array, // [K / blockSize]
): void {
  for (let b = 0, k0 = 0; k0 < src.length; b++, k0 += blockSize) {
    let amax = 0;
    for (let k = k0; k < k0 + blockSize; k++) amax = Math.max(amax, Math.abs(src[k]!));
    const inv = amax > 0 ? Math.fround(127 / amax) : 0;
    for (let k = k0; k < k0 + blockSize; k++) q[k] = roundHalfEven(Math.fround(src[k]! * inv));
    scales[b] = amax / 127;
  }
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Row `row` of a weight, widened (or dequantized) to f32 into out[K]. */
export function widenRow(w: HostWeight, row: number, out: Float32Array): void {
  const { cols, format } = w;
  const base = w.data.byteOffset + row * cols * elementBytes(format);
  switch (format) {
    case "f32":
      out.set(new Float32Array(w.data.buffer, base, cols));
      return;
    case "bf16":
      bf16ArrayToF32(new Uint16Array(w.data.buffer, base, cols), out);
      return;
    case "f16":
      f16ArrayToF32(new Uint16Array(w.data.buffer, base, cols), out);
      return;
    case "q8": {
      const { blockSize } = weightLayout(w);
      const q = new Int8Array(w.data.buffer, base, cols);
      const scales = w.scales;
      if (!scales) throw new Error("a q8 weight needs scales [rows, cols / blockSize]");
      const s0 = (row * cols) / blockSize;
      for (let k = 0; k < cols; k++) out[k] = q[k]! * scales[s0 + Math.floor(k / blockSize)]!;
      return;
    }
    default:
      assertNever(format);
  }
}

/**
 * out[m, n] = sum_k x[m, k] * W[n, k] (+ bias[n]), on the widened (dequantized)
 * weights, summed in double precision.
 */
export function matmulReference(
  x: Float32Array, // [m, K]
  m: number,
  w: HostWeight, // [N, K]
  out: Float32Array, // [m, N]
  bias?: Float32Array, // [N]
): void {
  const { rows: n, cols: k } = w;
  const row = new Float32Array(k);
  for (let j = 0; j < n; j++) {
    widenRow(w, j, row);
    for (let i = 0; i < m; i++) {
      let sum = 0;
      for (let e = 0; e < k; e++) sum += x[i * k + e]! * row[e]!;
      out[i * n + j] = sum + (bias ? bias[j]! : 0);
    }
  }
}
