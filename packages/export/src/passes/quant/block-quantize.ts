import { cast } from "@oar/tensor";
import type { ByteSource, Initializer } from "../../ir/initializer.js";

/*
 * Weight quantization as onnxruntime's contrib ops read it.
 *
 * Blockwise (MatMulNBits, GatherBlockQuantized): a matrix is seen as N
 * output rows of K inputs (MatMulNBits' B is the transposed weight); each
 * row is cut into ceil(K/block) blocks along K, and each block gets one f32
 * scale and, when asymmetric, one zero point. Element k of row n is stored
 * as q = round(w/scale) + zero_point in `bits` bits: packed [N, k_blocks,
 * block*bits/8] bytes, two 4-bit elements per byte with element 2j in the
 * low nibble; zero points packed the same way per row (default, when
 * omitted: 8 for 4 bits, 128 for 8 bits). A symmetric block uses that
 * default and scale = m / -2^(bits-1), m its element of largest magnitude
 * (sign kept), which maps m to the lowest level exactly and uses all 2^bits
 * levels, as onnxruntime's own quantizer does. An asymmetric block spans
 * [min(0, lo), max(0, hi)] with 2^bits - 1 steps.
 *
 * Per output channel (DynamicQuantizeMatMul's B): the weight keeps its
 * [K, N] layout, int8 with scale maxabs/127 per column n (symmetric), or
 * uint8 with a zero point per column.
 */

export type QuantBits = 4 | 8;

export interface BlockQuantSpec {
  readonly bits: QuantBits;
  /** Elements of K per scale: a power of two, at least 16 (onnxruntime's requirement). */
  readonly blockSize: number;
  readonly symmetric: boolean;
}

/** How a matrix lies in its initializer: [K, N] (a MatMul's right operand) or [N, K] (an embedding table, a Hugging Face linear weight). */
export type MatrixLayout = "in-out" | "out-in";

/** The parts of a blockwise-quantized matrix, as bytes. */
export type BlockPart = "packed" | "scales" | "zeroPoints";

/** Checks a block spec, naming what is wrong. */
export function checkBlockSpec(spec: BlockQuantSpec): void {
  const b = spec.blockSize;
  if (!Number.isSafeInteger(b) || b < 16 || (b & (b - 1)) !== 0) {
    throw new Error(`block size must be a power of two of at least 16 (onnxruntime's MatMulNBits needs it), got ${b}`);
  }
}

/** The geometry of a matrix of N rows of K quantized in blocks. */
export class BlockGeometry {
  readonly n: number;
  readonly k: number;
  readonly kBlocks: number;
  /** Bytes of one packed block. */
  readonly blockBytes: number;
  /** Bytes of one row's zero points. */
  readonly zeroPointBytes: number;
  readonly spec: BlockQuantSpec;

  constructor(n: number, k: number, spec: BlockQuantSpec) {
    checkBlockSpec(spec);
    this.n = n;
    this.k = k;
    this.spec = spec;
    this.kBlocks = Math.ceil(k / spec.blockSize);
    this.blockBytes = (spec.blockSize * spec.bits) / 8;
    this.zeroPointBytes = Math.ceil((this.kBlocks * spec.bits) / 8);
  }

  /** The stored level of a real 0 when a block has no zero point of its own. */
  get defaultZeroPoint(): number {
    return 1 << (this.spec.bits - 1);
  }
}

/** Blockwise quantization of one matrix into fresh arrays. */
export interface BlockQuantized {
  readonly packed: Uint8Array; // [N, k_blocks, block_bytes]
  readonly scales: Float32Array; // [N, k_blocks]
  readonly zeroPoints: Uint8Array | null; // [N, zero_point_bytes], null when symmetric
}

/**
 * Quantizes row `n`, the K values of `values` from `offset`, into `out`.
 * The rows of a matrix go through this one at a time, in any order.
 */
function quantizeRow(geo: BlockGeometry, n: number, values: Float32Array, offset: number, out: BlockQuantized): void {
  const { bits, blockSize, symmetric } = geo.spec;
  const levels = (1 << bits) - 1;
  const block = new Float32Array(blockSize);
  for (let b = 0; b < geo.kBlocks; b++) {
    const k0 = b * blockSize;
    const len = Math.min(blockSize, geo.k - k0);
    let lo = 0;
    let hi = 0;
    let extreme = 0;
    for (let j = 0; j < len; j++) {
      const v = values[offset + k0 + j]!;
      block[j] = v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      if (Math.abs(v) > Math.abs(extreme)) extreme = v;
    }
    let scale: number;
    let zero: number;
    if (symmetric) {
      scale = Math.fround(extreme / -geo.defaultZeroPoint);
      zero = geo.defaultZeroPoint;
    } else {
      scale = Math.fround((hi - lo) / levels);
      zero = scale === 0 ? 0 : Math.min(levels, Math.max(0, Math.round(-lo / scale)));
    }
    out.scales[n * geo.kBlocks + b] = scale;
    if (out.zeroPoints !== null) {
      const at = n * geo.zeroPointBytes + ((b * bits) >> 3);
      out.zeroPoints[at] = bits === 8 ? zero : out.zeroPoints[at]! | (zero << ((b & 1) * 4));
    }
    const base = (n * geo.kBlocks + b) * geo.blockBytes;
    for (let j = 0; j < blockSize; j++) {
      const q = j >= len || scale === 0 ? zero : Math.min(levels, Math.max(0, Math.round(block[j]! / scale) + zero));
      if (bits === 8) out.packed[base + j] = q;
      else out.packed[base + (j >> 1)] |= q << ((j & 1) * 4);
    }
  }
}

/** Fresh zeroed arrays for a matrix of this geometry. */
function allocateBlockQuantized(geo: BlockGeometry): BlockQuantized {
  return {
    packed: new Uint8Array(geo.n * geo.kBlocks * geo.blockBytes),
    scales: new Float32Array(geo.n * geo.kBlocks),
    zeroPoints: geo.spec.symmetric ? null : new Uint8Array(geo.n * geo.zeroPointBytes),
  };
}

/** Element k of packed row n, dequantized (for tests and error measurements). */
export function dequantize(geo: BlockGeometry, q: BlockQuantized, n: number, k: number): number {
  const { bits, blockSize } = geo.spec;
  const b = Math.floor(k / blockSize);
  const j = k % blockSize;
  const byte = q.packed[(n * geo.kBlocks + b) * geo.blockBytes + (bits === 8 ? j : j >> 1)]!;
  const level = bits === 8 ? byte : (byte >> ((j & 1) * 4)) & 15;
  let zero = geo.defaultZeroPoint;
  if (q.zeroPoints !== null) {
    const z = q.zeroPoints[n * geo.zeroPointBytes + ((b * bits) >> 3)]!;
    zero = bits === 8 ? z : (z >> ((b & 1) * 4)) & 15;
  }
  return (level - zero) * q.scales[n * geo.kBlocks + b]!;
}

/** The f32 elements of a weight (read now, converted from f16/bf16). */
function readF32(weight: Initializer): Float32Array {
  const t = weight.toTensor();
  return t.dtype === "f32" ? (t.data as Float32Array) : (cast(t, "f32").data as Float32Array);
}

/** Columns of a [K, N] weight transposed at once while quantizing. */
const BAND = 64;

/** A [rows, cols] matrix's blockwise quantization, reading the weight once (an [N, K] one a row at a time). */
export function quantizeMatrix(weight: Initializer, layout: MatrixLayout, spec: BlockQuantSpec): { geo: BlockGeometry; q: BlockQuantized } {
  const [rows, cols] = weight.shape as [number, number];
  const geo = layout === "in-out" ? new BlockGeometry(cols, rows, spec) : new BlockGeometry(rows, cols, spec);
  const q = allocateBlockQuantized(geo);
  if (layout === "out-in") {
    forEachRow(weight, cols, (n, row) => quantizeRow(geo, n, row, 0, q));
    return { geo, q };
  }
  // Columns of a [K, N] matrix are rows here: transpose a band of them at a time, reading memory in order.
  const w = readF32(weight);
  const band = new Float32Array(BAND * rows);
  for (let n0 = 0; n0 < cols; n0 += BAND) {
    const width = Math.min(BAND, cols - n0);
    for (let k = 0; k < rows; k++) {
      const from = k * cols + n0;
      for (let j = 0; j < width; j++) band[j * rows + k] = w[from + j]!;
    }
    for (let j = 0; j < width; j++) quantizeRow(geo, n0 + j, band, j * rows, q);
  }
  return { geo, q };
}

/** Calls `fn` with each row of a [rows, cols] f32/f16/bf16 initializer as f32, streaming its bytes. */
function forEachRow(weight: Initializer, cols: number, fn: (row: number, values: Float32Array) => void): void {
  const size = weight.dtype === "f32" ? 4 : 2;
  const rowBytes = cols * size;
  const pending = new Uint8Array(rowBytes);
  let filled = 0;
  let row = 0;
  const emit = (bytes: Uint8Array) => {
    const copy = bytes.slice();
    const t = { dtype: weight.dtype, shape: [cols], data: size === 4 ? new Float32Array(copy.buffer) : new Uint16Array(copy.buffer) };
    fn(row++, t.dtype === "f32" ? (t.data as Float32Array) : (cast(t as Parameters<typeof cast>[0], "f32").data as Float32Array));
  };
  for (const chunk of weight.chunks()) {
    let at = 0;
    while (at < chunk.byteLength) {
      const take = Math.min(rowBytes - filled, chunk.byteLength - at);
      pending.set(chunk.subarray(at, at + take), filled);
      filled += take;
      at += take;
      if (filled === rowBytes) {
        emit(pending);
        filled = 0;
      }
    }
  }
}

/** Per-output-channel int8 quantization of a [K, N] MatMul weight. */
export interface ChannelQuantized {
  readonly weight: Uint8Array; // [K, N] int8 (symmetric) or uint8 bytes
  readonly scales: Float32Array; // [N]
  readonly zeroPoints: Uint8Array | null; // [N] uint8, null when symmetric
}

/** Quantizes each column of a [K, N] weight to 8 bits: int8 with scale maxabs/127, or uint8 over [min(0, lo), max(0, hi)]. */
export function quantizeColumns(weight: Initializer, symmetric: boolean): ChannelQuantized {
  const [k, n] = weight.shape as [number, number];
  const w = readF32(weight);
  const lo = new Float64Array(n);
  const hi = new Float64Array(n);
  for (let r = 0; r < k; r++) {
    for (let c = 0; c < n; c++) {
      const v = w[r * n + c]!;
      if (v < lo[c]!) lo[c] = v;
      if (v > hi[c]!) hi[c] = v;
    }
  }
  const scales = new Float32Array(n);
  const zeroPoints = symmetric ? null : new Uint8Array(n);
  for (let c = 0; c < n; c++) {
    scales[c] = symmetric ? Math.max(-lo[c]!, hi[c]!) / 127 : (hi[c]! - lo[c]!) / 255;
    if (zeroPoints !== null) zeroPoints[c] = scales[c] === 0 ? 0 : Math.min(255, Math.max(0, Math.round(-lo[c]! / scales[c]!)));
  }
  const out = new Uint8Array(k * n);
  const signed = new Int8Array(out.buffer);
  for (let r = 0; r < k; r++) {
    for (let c = 0; c < n; c++) {
      const s = scales[c]!;
      const x = s === 0 ? 0 : Math.round(w[r * n + c]! / s);
      if (zeroPoints === null) signed[r * n + c] = Math.min(127, Math.max(-127, x));
      else out[r * n + c] = Math.min(255, Math.max(0, x + zeroPoints[c]!));
    }
  }
  return { weight: out, scales, zeroPoints };
}

/** The results of the one shared computation whose outputs are held, process-wide. */
let held: SharedComputation<string> | null = null;

/**
 * Tensors computed together from one weight (packed bits, scales, zero
 * points), each the bytes of its own lazy initializer. The computation runs
 * when the first of them is read and its results are held until each part
 * has been read once, so writing a model reads each weight once, not once
 * per part. Only one computation's results are held at a time: a part read
 * after another weight's computation began is computed again.
 */
export class SharedComputation<P extends string> {
  readonly #description: string;
  readonly #parts: readonly P[];
  readonly #compute: () => Readonly<Record<P, Uint8Array>>;
  #results: Readonly<Record<P, Uint8Array>> | null = null;
  #unread = new Set<P>();

  constructor(description: string, parts: readonly P[], compute: () => Readonly<Record<P, Uint8Array>>) {
    this.#description = description;
    this.#parts = parts;
    this.#compute = compute;
  }

  /** The bytes of `part`, as a ByteSource. */
  source(part: P): ByteSource {
    return {
      description: `${this.#description}: ${part}`,
      chunks: () => [this.#take(part)],
    };
  }

  #take(part: P): Uint8Array {
    if (this.#results === null || held !== this) {
      if (held !== null && held !== this) held.#release();
      this.#results = this.#compute();
      this.#unread = new Set(this.#parts);
      held = this as SharedComputation<string>;
    }
    const bytes = this.#results[part];
    this.#unread.delete(part);
    if (this.#unread.size === 0) this.#release();
    return bytes;
  }

  #release(): void {
    this.#results = null;
    if (held === this) held = null;
  }
}

/** The bytes of a typed array. */
export function bytesOf(a: Float32Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
