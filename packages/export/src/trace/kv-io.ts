/**
 * Where a traced decoder's past keys and values come from and which of its
 * keys and values it returns. Three layouts, all computing the same
 * attention (the layer code of ./backend.ts does not change with them):
 *
 * - "present": the convention of Optimum and transformers.js. Inputs
 *   `past_key_values.{i}.key|value` [batch, kv_heads, past, head_dim],
 *   outputs `present.{i}.key|value` [batch, kv_heads, past + new, head_dim].
 *   A caller that feeds each present back as the next past copies the
 *   whole cache out of onnxruntime every step.
 * - "present+new": the same, plus outputs `new_key_values.{i}.key|value`
 *   [batch, kv_heads, new, head_dim], the step's own keys (after rotary)
 *   and values. A runtime that keeps its own cache asks for these alone
 *   and appends them, so a step's output does not grow with the context.
 * - "blocks": block attention (paged KV). The past is gathered in the graph
 *   from one pool of blocks per layer, `key_cache.{i}` / `value_cache.{i}`
 *   [num_blocks, kv_heads, block_size, head_dim], by `block_tables` (int64
 *   [batch, max_blocks], each row the sequence's blocks in order, any
 *   valid block id past its end); the past is max_blocks * block_size
 *   positions wide and `attention_mask` hides what a row does not hold.
 *   The only KV outputs are `new_key_values.*`: the runtime writes them
 *   into its blocks. See ./block-attention.ts.
 */
import type { DecoderConfig } from "@oar/modeling";
import { assertNever } from "@oar/tensor";
import type { OarInference } from "../inference-dir/manifest.js";
import type { Graph } from "../ir/graph.js";
import type { Shape } from "../ir/shape.js";
import type { Value } from "../ir/value.js";
import { blockPast } from "./block-attention.js";
import { DIMS, type GraphDType, pastName, presentName } from "./io.js";

export type KvLayout =
  | { readonly kind: "present" }
  | { readonly kind: "present+new" }
  | { readonly kind: "blocks"; readonly blockSize: number };

/** One layer's keys and values, each [batch, kv_heads, positions, head_dim]. */
export interface LayerKv {
  readonly key: Value;
  readonly value: Value;
}

/** The step's own keys (after rotary) and values of a layer: `new_key_values.{layer}.{kind}`, [batch, kv_heads, sequence_length, head_dim]. */
export function newKvName(layer: number, kind: "key" | "value"): string {
  return `new_key_values.${layer}.${kind}`;
}

/** Block attention's pool of a layer: `key_cache.{layer}` / `value_cache.{layer}`, [num_blocks, kv_heads, block_size, head_dim]. */
export function blockPoolName(layer: number, kind: "key" | "value"): string {
  return `${kind}_cache.${layer}`;
}

/** Block attention's table input: int64 [batch_size, max_blocks]. */
export const BLOCK_TABLES = "block_tables";

/** The symbolic dimensions block attention adds. */
export const BLOCK_DIMS = { numBlocks: "num_blocks", maxBlocks: "max_blocks" } as const;

/** How a traced graph declares and returns its KV. */
export interface KvIo {
  /** Declares the inputs the past comes from (after position_ids) and returns each layer's past [batch, kv_heads, past_sequence_length, head_dim]. */
  declarePast(graph: Graph): readonly LayerKv[];
  /**
   * Declares a layer's KV outputs from its past, its present (past and new, [batch, kv_heads, total, head_dim]; null
   * when attention did not build it, and it is then made here if the layout returns it) and its new ([batch,
   * kv_heads, sequence, head_dim]) keys and values.
   */
  declareOutputs(graph: Graph, layer: number, kv: { readonly past: LayerKv; readonly present: LayerKv | null; readonly fresh: LayerKv }): void;
}

/** The KvIo of `layout` for a decoder of `config` computing in `dtype`. */
export function kvIo(layout: KvLayout, config: DecoderConfig, dtype: GraphDType): KvIo {
  const { numLayers, numKvHeads, headDim } = config;
  const perLayer = (make: (layer: number) => LayerKv): LayerKv[] => Array.from({ length: numLayers }, (_, l) => make(l));
  const declareNew = (graph: Graph, layer: number, fresh: LayerKv): void => {
    const shape: Shape = [DIMS.batch, numKvHeads, DIMS.sequence, headDim];
    graph.output(fresh.key, newKvName(layer, "key")).shape = shape;
    graph.output(fresh.value, newKvName(layer, "value")).shape = [...shape];
  };
  const densePast = (graph: Graph): LayerKv[] => {
    const shape: Shape = [DIMS.batch, numKvHeads, DIMS.pastSequence, headDim];
    return perLayer((l) => ({ key: graph.input(pastName(l, "key"), dtype, shape), value: graph.input(pastName(l, "value"), dtype, shape) }));
  };
  const declarePresent = (graph: Graph, layer: number, kv: { readonly past: LayerKv; readonly present: LayerKv | null; readonly fresh: LayerKv }): void => {
    const shape: Shape = [DIMS.batch, numKvHeads, DIMS.totalSequence, headDim];
    const concat = (kind: "key" | "value") =>
      graph.op("Concat", [kv.past[kind], kv.fresh[kind]], { attrs: { axis: 2 }, name: `/model/layers.${layer}/self_attn/present/${kind}`, shape });
    graph.output(kv.present?.key ?? concat("key"), presentName(layer, "key"));
    graph.output(kv.present?.value ?? concat("value"), presentName(layer, "value"));
  };
  switch (layout.kind) {
    case "present":
      return { declarePast: densePast, declareOutputs: declarePresent };
    case "present+new":
      return {
        declarePast: densePast,
        declareOutputs: (graph, layer, kv) => {
          declarePresent(graph, layer, kv);
          declareNew(graph, layer, kv.fresh);
        },
      };
    case "blocks": {
      const { blockSize } = layout;
      if (!Number.isSafeInteger(blockSize) || blockSize <= 0) throw new Error(`block attention: block size must be a positive integer, got ${blockSize}`);
      return {
        declarePast: (graph) => {
          const tables = graph.input(BLOCK_TABLES, "i64", [DIMS.batch, BLOCK_DIMS.maxBlocks]);
          const pool: Shape = [BLOCK_DIMS.numBlocks, numKvHeads, blockSize, headDim];
          return perLayer((l) => ({
            key: blockPast(graph, { pool: graph.input(blockPoolName(l, "key"), dtype, pool), tables, layer: l, kind: "key", kvHeads: numKvHeads, headDim }),
            value: blockPast(graph, { pool: graph.input(blockPoolName(l, "value"), dtype, pool), tables, layer: l, kind: "value", kvHeads: numKvHeads, headDim }),
          }));
        },
        declareOutputs: (graph, layer, { fresh }) => declareNew(graph, layer, fresh),
      };
    }
    default:
      return assertNever(layout);
  }
}

/** A name with "{layer}" for the layer index, as oar_inference.json records names. */
function template(name: (layer: number, kind: "key" | "value") => string, kind: "key" | "value"): string {
  return name(0, kind).replace(".0", ".{layer}");
}

/** What oar_inference.json's kv_cache says of the graph's KV interface, besides the sizes and dtype. */
export function kvIoRecord(layout: KvLayout): Omit<OarInference["kv_cache"], "num_layers" | "num_kv_heads" | "head_dim" | "dtype"> {
  const dense = layout.kind !== "blocks";
  const blocks = layout.kind === "blocks";
  const withNew = layout.kind !== "present";
  return {
    io: layout.kind,
    layout: ["batch_size", "num_kv_heads", "sequence", "head_dim"],
    past_key: dense ? template(pastName, "key") : null,
    past_value: dense ? template(pastName, "value") : null,
    present_key: dense ? template(presentName, "key") : null,
    present_value: dense ? template(presentName, "value") : null,
    new_key: withNew ? template(newKvName, "key") : null,
    new_value: withNew ? template(newKvName, "value") : null,
    block_tables: blocks ? BLOCK_TABLES : null,
    key_cache: blocks ? template(blockPoolName, "key") : null,
    value_cache: blocks ? template(blockPoolName, "value") : null,
  };
}
