/**
 * Attention over the past and the step's own keys and values without
 * copying the KV cache: the traced form exportModel writes (the "grouped"
 * form of TraceOps).
 *
 * The Optimum-style form (TraceOps' default, what the GroupQueryAttention
 * fusion reads) concatenates past and new keys into the present and
 * repeats each KV head heads/kv_heads times, both full copies of the
 * cache per layer and step; onnxruntime's CPU GroupQueryAttention copies
 * the past into its present as well. Here instead the query heads sharing
 * a KV head are stacked as rows of one matrix, and the scores against the
 * past and against the step's keys are two MatMuls whose results (small:
 * one row per query position and head) are concatenated:
 *
 *     q  [batch, heads, seq, head_dim] -> Reshape -> [batch, kv_heads, group*seq, head_dim]
 *     s  = Concat(q @ past_k^T, q @ new_k^T, axis -1) * scale        [batch, kv_heads, group*seq, past+seq]
 *     p  = Softmax(Where(Tile(mask, group), s, lowest))
 *     o  = p[.., :past] @ past_v + p[.., past:] @ new_v              [batch, kv_heads, group*seq, head_dim]
 *     -> Reshape [batch, heads, seq, head_dim] -> Transpose -> [batch, seq, heads*head_dim]
 *
 * Measured on onnxruntime-node 1.30 (2 cores, Qwen2-0.5B attention shapes,
 * 24 layers, one decode token): 0.65 ms against GroupQueryAttention's 2.1
 * at batch 1 and 192 positions, 2.5 against 23 at batch 8, 2.8 against 42
 * at batch 1 and 2048 positions (@oar/runtime's README).
 */
import type { DType } from "@oar/tensor";
import type { Value } from "../ir/value.js";
import type { AttrsOf, OpType } from "../ir/ops.js";
import type { Shape } from "../ir/shape.js";
import { DIMS, MASKED_SCORE } from "./io.js";
import type { LayerKv } from "./kv-io.js";

/** How the grouped form records nodes: in the caller's scope and naming. */
export interface ScopedOps {
  op<T extends OpType>(type: T, inputs: readonly (Value | null)[], attrs?: AttrsOf<T>, shape?: Shape): Value;
  ints(values: readonly number[]): Value;
  scalar(value: number, dtype: DType): Value;
  /** To f32 and back when the graph computes in 16 bits (scores are masked and soft-maxed in f32). */
  toF32(x: Value): Value;
  fromF32(x: Value): Value;
}

export interface GroupedAttentionOptions {
  readonly q: Value; // [batch, heads, sequence, head_dim], rotated
  readonly fresh: LayerKv; // [batch, kv_heads, sequence, head_dim], keys rotated
  readonly past: LayerKv; // [batch, kv_heads, past_sequence, head_dim]
  readonly mask: Value; // bool [batch, 1, group*sequence, total_sequence]: the causal-and-padding mask tiled by groupedMask
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly scale: number;
  readonly dtype: DType;
}

/** The shared mask [batch, 1, sequence, total] repeated for the group's query heads: [batch, 1, group*sequence, total]. */
export function groupedMask(ops: ScopedOps, mask: Value, group: number): Value {
  return ops.op("Tile", [mask, ops.ints([1, 1, group, 1])], undefined, [DIMS.batch, 1, null, DIMS.totalSequence]);
}

/** Attention of one layer in the grouped form; returns [batch, sequence, heads*head_dim]. */
export function groupedAttention(ops: ScopedOps, o: GroupedAttentionOptions): Value {
  const { heads, kvHeads, headDim } = o;
  const transposeLast = (x: Value) => ops.op("Transpose", [x], { perm: [0, 1, 3, 2] });
  const q = ops.op("Reshape", [o.q, ops.ints([0, kvHeads, -1, headDim])], undefined, [DIMS.batch, kvHeads, null, headDim]);
  const pastScores = ops.op("MatMul", [q, transposeLast(o.past.key)]);
  const freshScores = ops.op("MatMul", [q, transposeLast(o.fresh.key)]);
  const scores = ops.op("Mul", [ops.op("Concat", [pastScores, freshScores], { axis: -1 }), ops.scalar(o.scale, o.dtype)]);
  const masked = ops.op("Where", [o.mask, ops.toF32(scores), ops.scalar(MASKED_SCORE, "f32")]);
  const probs = ops.fromF32(ops.op("Softmax", [masked], { axis: -1 }));
  const past = ops.op("Shape", [o.past.key], { start: 2, end: 3 });
  const pastProbs = ops.op("Slice", [probs, ops.ints([0]), past, ops.ints([3])], undefined, [DIMS.batch, kvHeads, null, DIMS.pastSequence]);
  const freshProbs = ops.op("Slice", [probs, past, ops.ints([Number.MAX_SAFE_INTEGER]), ops.ints([3])], undefined, [DIMS.batch, kvHeads, null, DIMS.sequence]);
  const context = ops.op("Add", [ops.op("MatMul", [pastProbs, o.past.value]), ops.op("MatMul", [freshProbs, o.fresh.value])]);
  const perHead = ops.op("Reshape", [context, ops.ints([0, heads, -1, headDim])], undefined, [DIMS.batch, heads, DIMS.sequence, headDim]);
  const tokensFirst = ops.op("Transpose", [perHead], { perm: [0, 2, 1, 3] });
  return ops.op("Reshape", [tokensFirst, ops.ints([0, 0, heads * headDim])]);
}
