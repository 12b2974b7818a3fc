import {
  type TensorInfo,
  type TensorSource,
  assertNever,
  cast,
  dtypeSize,
  f16ToF32,
  viewAs,
} from "@oar/tensor";
import type { WeightEdit } from "@oar/modeling";
import type { Graph } from "../ir/graph.js";
import type { ByteSource, LazyTensor } from "../ir/initializer.js";
import type { Value } from "../ir/value.js";
import type { GraphDType } from "./io.js";

/*
 * Checkpoint tensors as lazy initializers. Nothing is read while the graph
 * is built: each source reads its tensor from the checkpoint only when
 * the writer (or a pass) asks for the bytes, a block of rows at a time, and
 * converts it to the graph's dtype on the way. Linear weights are stored
 * transposed, [in, out], so the graph multiplies x [.., in] by them with a
 * plain MatMul; the transposition runs in bands of input features, so no
 * more than one band (32 MiB) and one block of the file (16 MiB) is held,
 * whatever the size of the matrix.
 */

/** Bytes of the file read at once. */
const READ_BLOCK_BYTES = 16 << 20;
/** Bytes of f32 output produced at once by a transposition. */
const BAND_BYTES = 32 << 20;

/** The dtypes a checkpoint weight may be stored in (checkCheckpoint refuses others). */
type StoredDType = "f32" | "f16" | "bf16";

/** A merged LoRA: `apply` changes each weight of `weights` ([out, in], f32) before it is stored. */
export interface MergedEdit {
  /** Checkpoint names of the weights the edit changes, e.g. "model.layers.0.self_attn.q_proj.weight". */
  readonly weights: ReadonlySet<string>;
  readonly apply: WeightEdit;
}

/** What TraceOps asks of the weights it is given. */
export interface LinearOperands {
  /** The [in, out] matrix a MatMul reads for `weight`, a value the store made (a table is transposed on first use). */
  matmulWeight(weight: Value): Value;
}

/** Consecutive rows of a [rows, cols] matrix, in their stored element type. */
interface RowBlock {
  readonly row0: number;
  readonly rows: number;
  readonly dtype: StoredDType;
  readonly data: Float32Array | Uint16Array; // [rows, cols]
}

function storedDType(info: TensorInfo): StoredDType {
  const d = info.dtype;
  if (d !== "f32" && d !== "f16" && d !== "bf16") {
    throw new Error(`${info.file}: tensor "${info.name}" is ${d}; weights must be f32, f16 or bf16`);
  }
  return d;
}

/** The tensor's rows read from the checkpoint in blocks of about READ_BLOCK_BYTES. */
function* rowBlocks(checkpoint: TensorSource, info: TensorInfo, rows: number, cols: number): Generator<RowBlock> {
  const dtype = storedDType(info);
  const rowBytes = cols * dtypeSize(dtype);
  const perBlock = Math.max(1, Math.floor(READ_BLOCK_BYTES / rowBytes));
  for (let row0 = 0; row0 < rows; row0 += perBlock) {
    const n = Math.min(perBlock, rows - row0);
    const bytes = new Uint8Array(n * rowBytes);
    checkpoint.readRange(info.name, row0 * rowBytes, bytes);
    yield { row0, rows: n, dtype, data: viewAs(dtype, bytes.buffer, 0, n * cols) };
  }
}

/** f32 bytes converted to `dtype` (a view when it is f32). */
function encode(f32: Float32Array, dtype: GraphDType): Uint8Array {
  const t = dtype === "f32" ? f32 : cast({ dtype: "f32", shape: [f32.length], data: f32 }, dtype).data;
  return new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
}

/** A block of rows as f32. */
function blockToF32(block: RowBlock): Float32Array {
  if (block.dtype === "f32") return block.data as Float32Array;
  return cast({ dtype: block.dtype, shape: [block.data.length], data: block.data }, "f32").data;
}

/**
 * Writes columns [i0, i1) of a block of a [rows, cols] matrix into `band`,
 * the rows [i0, i1) of its transpose [cols, rows], as f32.
 */
function scatterColumns(block: RowBlock, cols: number, i0: number, i1: number, band: Float32Array /* [i1-i0, rows] */, rows: number): void {
  const { row0, rows: n } = block;
  switch (block.dtype) {
    case "f32": {
      const src = block.data as Float32Array;
      for (let i = i0; i < i1; i++) {
        const dst = (i - i0) * rows + row0;
        for (let r = 0; r < n; r++) band[dst + r] = src[r * cols + i]!;
      }
      return;
    }
    case "bf16": {
      const src = block.data as Uint16Array;
      const bits = new Uint32Array(band.buffer, band.byteOffset, band.length);
      for (let i = i0; i < i1; i++) {
        const dst = (i - i0) * rows + row0;
        for (let r = 0; r < n; r++) bits[dst + r] = src[r * cols + i]! << 16;
      }
      return;
    }
    case "f16": {
      const src = block.data as Uint16Array;
      for (let i = i0; i < i1; i++) {
        const dst = (i - i0) * rows + row0;
        for (let r = 0; r < n; r++) band[dst + r] = f16ToF32(src[r * cols + i]!);
      }
      return;
    }
    default:
      return assertNever(block.dtype);
  }
}

/** The checkpoint tensor `name` as stored (any rank), converted to `dtype` a block of rows at a time. */
export function convertedSource(checkpoint: TensorSource, name: string, dtype: GraphDType): LazyTensor {
  const info = checkpoint.info(name);
  const stored = storedDType(info);
  const cols = info.shape.length === 0 ? 1 : info.shape[info.shape.length - 1]!;
  const rows = cols === 0 ? 0 : info.byteLength / dtypeSize(stored) / cols;
  const source: ByteSource = {
    description: `${info.file}: ${name}${stored === dtype ? "" : ` (${stored} -> ${dtype})`}`,
    *chunks() {
      for (const block of rowBlocks(checkpoint, info, rows, cols)) {
        if (block.dtype === dtype) yield new Uint8Array(block.data.buffer, block.data.byteOffset, block.data.byteLength);
        else yield encode(blockToF32(block), dtype);
      }
    },
  };
  return { dtype, shape: info.shape, source };
}

/**
 * The transpose [in, out] of the checkpoint matrix `name` [out, in], in
 * `dtype`, produced in bands of input features. With `edit`, the matrix is
 * read whole in f32, edited (merged LoRA), then transposed: only the
 * decoder layers' linear weights are edited, and each is small next to the
 * model.
 */
export function transposedSource(checkpoint: TensorSource, name: string, dtype: GraphDType, edit?: WeightEdit): LazyTensor {
  const info = checkpoint.info(name);
  if (info.shape.length !== 2) throw new Error(`${info.file}: tensor "${name}" has shape [${info.shape.join(", ")}]; a linear weight is a matrix`);
  const [rows, cols] = info.shape as [number, number];
  const stored = storedDType(info);
  const what = [stored === dtype ? null : `${stored} -> ${dtype}`, edit === undefined ? null : "LoRA merged", "transposed"].filter((s) => s !== null);
  const blocks = (): Iterable<RowBlock> => {
    if (edit === undefined) return rowBlocks(checkpoint, info, rows, cols);
    const f32 = cast(checkpoint.read(name), "f32").data;
    edit(name, f32, info.shape);
    return [{ row0: 0, rows, dtype: "f32", data: f32 }];
  };
  const source: ByteSource = {
    description: `${info.file}: ${name} (${what.join(", ")})`,
    *chunks() {
      const bandCols = Math.max(1, Math.min(cols, Math.floor(BAND_BYTES / 4 / Math.max(1, rows))));
      // An edited matrix is read once and kept for all bands; a checkpoint-backed one is re-read per band.
      const held = edit === undefined ? null : [...blocks()];
      for (let i0 = 0; i0 < cols; i0 += bandCols) {
        const i1 = Math.min(cols, i0 + bandCols);
        const band = new Float32Array((i1 - i0) * rows);
        for (const block of held ?? blocks()) scatterColumns(block, cols, i0, i1, band, rows);
        yield encode(band, dtype);
      }
    },
  };
  return { dtype, shape: [cols, rows], source };
}

/** The role a checkpoint tensor plays in the graph, which decides its layout there. */
type Role = "linear" | "table" | "vector";

/**
 * The decoder's weights as graph initializers, for `buildDecoderWeights`:
 * vectors (norms, biases) as stored, the token embedding as a [vocab,
 * hidden] table for Gather, and every other matrix transposed to [in, out]
 * for MatMul. A table used by a linear layer (tied lm_head) gets a
 * transposed copy of its own, made on first use.
 */
export class TraceWeights implements LinearOperands {
  readonly #graph: Graph;
  readonly #checkpoint: TensorSource;
  readonly #dtype: GraphDType;
  readonly #edit: MergedEdit | null;
  /** Checkpoint name of each table value, so it can be transposed when a linear layer reads it. */
  readonly #tables = new Map<Value, string>();
  readonly #linear = new Set<Value>();
  readonly #transposed = new Map<Value, Value>();

  constructor(options: { readonly graph: Graph; readonly checkpoint: TensorSource; readonly dtype: GraphDType; readonly edit?: MergedEdit }) {
    this.#graph = options.graph;
    this.#checkpoint = options.checkpoint;
    this.#dtype = options.dtype;
    this.#edit = options.edit ?? null;
  }

  /** The initializer of checkpoint tensor `name`, in the layout its role needs. */
  get(name: string): Value {
    const role = roleOf(name, this.#checkpoint.info(name).shape.length);
    switch (role) {
      case "vector":
        return this.#graph.initializer(convertedSource(this.#checkpoint, name, this.#dtype), { name });
      case "table": {
        if (this.#edit?.weights.has(name) === true) throw new Error(`a merged LoRA edits "${name}", the embedding table; LoRA applies to linear layers only`);
        const v = this.#graph.initializer(convertedSource(this.#checkpoint, name, this.#dtype), { name });
        this.#tables.set(v, name);
        return v;
      }
      case "linear": {
        const edit = this.#edit !== null && this.#edit.weights.has(name) ? this.#edit.apply : undefined;
        const v = this.#graph.initializer(transposedSource(this.#checkpoint, name, this.#dtype, edit), { name: `${name}.T` });
        this.#linear.add(v);
        return v;
      }
      default:
        return assertNever(role);
    }
  }

  matmulWeight(weight: Value): Value {
    if (this.#linear.has(weight)) return weight;
    const table = this.#tables.get(weight);
    if (table === undefined) throw new Error(`'${weight.name}' is not a weight of this model; a linear layer reads a matrix weight`);
    let t = this.#transposed.get(weight);
    if (t === undefined) {
      t = this.#graph.initializer(transposedSource(this.#checkpoint, table, this.#dtype), { name: `${table}.T` });
      this.#transposed.set(weight, t);
    }
    return t;
  }
}

function roleOf(name: string, rank: number): Role {
  if (rank === 1) return "vector";
  if (rank === 2) return name === "model.embed_tokens.weight" ? "table" : "linear";
  throw new Error(`tensor "${name}" has rank ${rank}; a decoder weight is a vector or a matrix`);
}

