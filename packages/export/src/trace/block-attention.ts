/**
 * Block attention (paged KV) from standard ops. onnxruntime has no paged
 * attention kernel on CPU (com.microsoft PagedAttention is CUDA-only), so
 * the graph assembles each row's past from the pool itself:
 *
 *     blocks = Gather(pool [num_blocks, kv_heads, block_size, head_dim], block_tables [batch, max_blocks], axis 0)
 *                                                            [batch, max_blocks, kv_heads, block_size, head_dim]
 *     past   = Reshape(Transpose(blocks, perm [0, 2, 1, 3, 4]), [0, kv_heads, -1, head_dim])
 *                                                            [batch, kv_heads, max_blocks*block_size, head_dim]
 *
 * and the layer then attends exactly as the dense graph does (Concat with
 * the step's keys, the shared causal-and-padding mask from attention_mask),
 * so every fusion that applies to the dense graph applies here too:
 * GroupQueryAttention takes the gathered past as its past_key/past_value.
 * Positions a row does not hold (the tail of its last block, the blocks of
 * a row shorter than the longest) are zeros in attention_mask.
 *
 * The price is one copy of each row's past per layer and step (Gather
 * and Transpose, each about the size of the past), which the dense layout
 * does not pay; the runtime README has the measured cost.
 */
import type { Graph } from "../ir/graph.js";
import type { Value } from "../ir/value.js";
import { DIMS } from "./io.js";

export interface BlockPastOptions {
  readonly pool: Value; // [num_blocks, kv_heads, block_size, head_dim]
  readonly tables: Value; // i64 [batch_size, max_blocks]
  readonly layer: number;
  readonly kind: "key" | "value";
  readonly kvHeads: number;
  readonly headDim: number;
}

/** One layer's past keys or values [batch_size, kv_heads, past_sequence_length, head_dim], gathered from its pool by the block tables. */
export function blockPast(graph: Graph, o: BlockPastOptions): Value {
  const scope = `/model/layers.${o.layer}/self_attn/${o.kind}_blocks`;
  const blocks = graph.op("Gather", [o.pool, o.tables], { attrs: { axis: 0 }, name: `${scope}/Gather` });
  const headsFirst = graph.op("Transpose", [blocks], { attrs: { perm: [0, 2, 1, 3, 4] }, name: `${scope}/Transpose` });
  const target = graph.int64s([0, o.kvHeads, -1, o.headDim], { name: `${scope}/Constant` });
  return graph.op("Reshape", [headsFirst, target], {
    name: `${scope}/Reshape`,
    shape: [DIMS.batch, o.kvHeads, DIMS.pastSequence, o.headDim],
  });
}
