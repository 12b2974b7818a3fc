import type { ComputePool, DeviceWeight } from "@oar/tensor";
import type { AttentionOptions, Linear, Ops, RopeOptions, Site } from "../ops.js";
import { attendStep } from "./attention.js";
import type { KvCache, SequenceCache } from "./kv-cache.js";

/** An activation of the eager backend: `rows` tokens of `cols` features. */
export interface EagerValue {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float32Array; // [rows, cols]
}

/**
 * Rows [row, row + rows) of a matrix that holds several weights multiplied by
 * the same x (q, k and v; gate and up): the first of them computes the whole
 * product in one pool call, the others take their rows of it.
 */
export interface WeightRows {
  readonly matrix: DeviceWeight; // [rows of every member, in]
  readonly row: number;
  readonly rows: number;
}

/** A weight of the eager backend: a matrix in the compute pool, rows of one, or a vector (norms, biases) in f32. */
export type EagerWeight = DeviceWeight | WeightRows | Float32Array;

/** One sequence's part of a forward step. */
export interface StepSequence {
  readonly cache: SequenceCache;
  readonly tokens: readonly number[];
  /** Rows (the last ones of this sequence) whose logits are returned. */
  readonly logits: number;
}

/** Per-position cos/sin of rotary embedding, extended as positions grow. */
export class RopeTable {
  private cos = new Float32Array(0); // [positions, head_dim/2]
  private sin = new Float32Array(0); // [positions, head_dim/2]
  private positions = 0;

  constructor(private readonly invFreq: Float32Array /* [head_dim/2] */) {}

  /** cos and sin rows for positions [0, n). */
  table(n: number): { cos: Float32Array; sin: Float32Array } {
    if (n > this.positions) {
      const half = this.invFreq.length;
      const size = Math.max(n, 2 * this.positions, 64);
      const cos = new Float32Array(size * half);
      const sin = new Float32Array(size * half);
      for (let p = 0; p < size; p++) {
        for (let i = 0; i < half; i++) {
          // The angle is rounded to f32 first, as an f32 graph computes it.
          const angle = Math.fround(p * this.invFreq[i]!);
          cos[p * half + i] = Math.cos(angle);
          sin[p * half + i] = Math.sin(angle);
        }
      }
      this.cos = cos;
      this.sin = sin;
      this.positions = size;
    }
    return { cos: this.cos, sin: this.sin };
  }
}

/**
 * `Ops` on typed arrays: matrix products, attention (over the KV cache, in
 * the pool's memory) and silu in the compute pool's WebAssembly SIMD kernels;
 * norms, rope and the elementwise sums and products in plain loops (about a
 * millisecond of a Qwen2-0.5B decode step together). A backend instance
 * serves one forward step: the step's sequences are laid out one after
 * another as rows.
 */
export class EagerOps implements Ops<EagerValue, EagerWeight> {
  private readonly positions: Int32Array; // [rows] position of each row
  private readonly rows: number;
  /** The last product of a fused matrix (see WeightRows) and the x it was computed for. */
  private fused: { x: EagerValue; matrix: DeviceWeight; product: Float32Array /* [x.rows, matrix.rows] */ } | null = null;

  constructor(
    private readonly pool: ComputePool,
    private readonly cache: KvCache,
    private readonly ropeTable: RopeTable,
    private readonly step: readonly StepSequence[],
  ) {
    let rows = 0;
    for (const s of step) rows += s.tokens.length;
    this.rows = rows;
    this.positions = new Int32Array(rows);
    let r = 0;
    for (const s of step) {
      for (let i = 0; i < s.tokens.length; i++) this.positions[r++] = s.cache.length + i;
    }
  }

  inputIds(): EagerValue {
    const data = new Float32Array(this.rows);
    let r = 0;
    for (const s of this.step) for (const id of s.tokens) data[r++] = id;
    return { rows: this.rows, cols: 1, data };
  }

  embed(table: EagerWeight, ids: EagerValue, site: Site): EagerValue {
    const w = matrix(table, site);
    const out = new Float32Array(ids.rows * w.cols);
    for (let r = 0; r < ids.rows; r++) {
      const id = ids.data[r]!;
      if (!(id >= 0 && id < w.rows)) throw new Error(`token id ${id} is outside the vocabulary of ${w.rows}`);
      this.pool.readRow(w, id, out.subarray(r * w.cols, (r + 1) * w.cols));
    }
    return { rows: ids.rows, cols: w.cols, data: out };
  }

  linear(x: EagerValue, layer: Linear<EagerWeight>, site: Site): EagerValue {
    const weight = layer.weight;
    if (weight instanceof Float32Array) throw new Error(`${describe(site)}: expected a matrix weight, got a vector`);
    const bias = layer.bias === null ? undefined : vector(layer.bias, site);
    const out = new Float32Array(x.rows * weight.rows);
    if ("matrix" in weight) this.rowsOf(x, weight, out, bias);
    else this.pool.matmul(x.data, x.rows, weight, out, bias);
    for (const delta of layer.lora) {
      const a = matrix(delta.a, site);
      const b = matrix(delta.b, site);
      const xa = new Float32Array(x.rows * a.rows);
      this.pool.matmul(x.data, x.rows, a, xa);
      const d = new Float32Array(x.rows * b.rows);
      this.pool.matmul(xa, x.rows, b, d);
      for (let i = 0; i < out.length; i++) out[i]! += delta.scale * d[i]!;
    }
    return { rows: x.rows, cols: weight.rows, data: out };
  }

  /** out = x times the rows `w` names of its matrix (+ bias), from the product of the whole matrix, computed once per x. */
  private rowsOf(
    x: EagerValue,
    w: WeightRows,
    out: Float32Array, // [x.rows, w.rows]
    bias: Float32Array | undefined, // [w.rows]
  ): void {
    const total = w.matrix.rows;
    if (this.fused?.x !== x || this.fused.matrix !== w.matrix) {
      const product = new Float32Array(x.rows * total);
      this.pool.matmul(x.data, x.rows, w.matrix, product);
      this.fused = { x, matrix: w.matrix, product };
    }
    const { product } = this.fused;
    for (let r = 0; r < x.rows; r++) {
      out.set(product.subarray(r * total + w.row, r * total + w.row + w.rows), r * w.rows);
      if (bias) for (let i = 0; i < w.rows; i++) out[r * w.rows + i]! += bias[i]!;
    }
  }

  rmsNorm(x: EagerValue, weight: EagerWeight, eps: number, site: Site): EagerValue {
    const w = vector(weight, site);
    const out = new Float32Array(x.data.length);
    const n = x.cols;
    for (let r = 0; r < x.rows; r++) {
      const off = r * n;
      let ss = 0;
      for (let i = 0; i < n; i++) ss += x.data[off + i]! * x.data[off + i]!;
      const inv = 1 / Math.sqrt(ss / n + eps);
      for (let i = 0; i < n; i++) out[off + i] = x.data[off + i]! * inv * w[i]!;
    }
    return { rows: x.rows, cols: n, data: out };
  }

  add(a: EagerValue, b: EagerValue): EagerValue {
    const out = new Float32Array(a.data.length);
    for (let i = 0; i < out.length; i++) out[i] = a.data[i]! + b.data[i]!;
    return { rows: a.rows, cols: a.cols, data: out };
  }

  mul(a: EagerValue, b: EagerValue): EagerValue {
    const out = new Float32Array(a.data.length);
    for (let i = 0; i < out.length; i++) out[i] = a.data[i]! * b.data[i]!;
    return { rows: a.rows, cols: a.cols, data: out };
  }

  silu(x: EagerValue): EagerValue {
    const out = new Float32Array(x.data.length);
    this.pool.silu(x.data, out);
    return { rows: x.rows, cols: x.cols, data: out };
  }

  rope(x: EagerValue, options: RopeOptions): EagerValue {
    const { heads, headDim } = options;
    const half = headDim / 2;
    let maxPos = 0;
    for (const p of this.positions) maxPos = Math.max(maxPos, p);
    const { cos, sin } = this.ropeTable.table(maxPos + 1);
    const out = new Float32Array(x.data.length);
    for (let r = 0; r < x.rows; r++) {
      const t = this.positions[r]! * half;
      for (let h = 0; h < heads; h++) {
        const off = r * x.cols + h * headDim;
        for (let i = 0; i < half; i++) {
          const a = x.data[off + i]!;
          const b = x.data[off + half + i]!;
          const c = cos[t + i]!;
          const s = sin[t + i]!;
          out[off + i] = a * c - b * s;
          out[off + half + i] = b * c + a * s;
        }
      }
    }
    return { rows: x.rows, cols: x.cols, data: out };
  }

  attention(q: EagerValue, k: EagerValue, v: EagerValue, options: AttentionOptions): EagerValue {
    const rows = this.step.map((s) => ({ cache: s.cache, count: s.tokens.length }));
    const out = attendStep(this.pool, this.cache, options.layer, rows, q.data, k.data, v.data, options);
    return { rows: q.rows, cols: options.heads * options.headDim, data: out };
  }

  logitRows(x: EagerValue): EagerValue {
    let rows = 0;
    for (const s of this.step) rows += s.logits;
    const out = new Float32Array(rows * x.cols);
    let src = 0;
    let dst = 0;
    for (const s of this.step) {
      const from = src + s.tokens.length - s.logits;
      out.set(x.data.subarray(from * x.cols, (from + s.logits) * x.cols), dst * x.cols);
      src += s.tokens.length;
      dst += s.logits;
    }
    return { rows, cols: x.cols, data: out };
  }
}

function matrix(w: EagerWeight, site: Site): DeviceWeight {
  if (w instanceof Float32Array) throw new Error(`${describe(site)}: expected a matrix weight, got a vector`);
  if ("matrix" in w) throw new Error(`${describe(site)}: expected a whole matrix, got rows of a fused one`);
  return w;
}

function vector(w: EagerWeight, site: Site): Float32Array {
  if (!(w instanceof Float32Array)) throw new Error(`${describe(site)}: expected a vector weight, got a matrix`);
  return w;
}

function describe(site: Site): string {
  return site.layer === undefined ? site.name : `layer ${site.layer} ${site.name}`;
}
