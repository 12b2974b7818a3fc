/**
 * The graph interface of a traced decoder, in the convention Optimum,
 * transformers.js and onnxruntime-genai read (see ../../README.md, "Static
 * graphs"). The symbolic dimension names are Optimum's: transformers.js
 * builds the first, empty KV cache from the declared input shapes, resolving
 * "batch_size" to the batch and every other symbol to 0, so the batch
 * symbol must be spelled that way and the KV-head and head-dim dimensions
 * must be numbers.
 */

/** The element types a graph computes in. CPU runs f32; f16 and bf16 are for GPU providers. */
export type GraphDType = "f32" | "f16" | "bf16";

export const GRAPH_DTYPES: readonly GraphDType[] = ["f32", "f16", "bf16"];

/** Symbolic dimensions of the interface. */
export const DIMS = {
  batch: "batch_size",
  sequence: "sequence_length",
  pastSequence: "past_sequence_length",
  totalSequence: "total_sequence_length",
  /** Rows of logits returned: num_logits_to_keep, or the whole sequence when it is 0. */
  logitsKept: "logits_kept",
} as const;

export const INPUT_IDS = "input_ids";
export const ATTENTION_MASK = "attention_mask";
export const POSITION_IDS = "position_ids";
/** int64 scalar (rank 0), as transformers.js feeds it: the last n positions get logits; 0 means all. */
export const NUM_LOGITS_TO_KEEP = "num_logits_to_keep";
export const LOGITS = "logits";

export function pastName(layer: number, kind: "key" | "value"): string {
  return `past_key_values.${layer}.${kind}`;
}

export function presentName(layer: number, kind: "key" | "value"): string {
  return `present.${layer}.${kind}`;
}

/**
 * What a masked attention score becomes: f32's lowest finite value (scores
 * are masked and soft-maxed in f32 whatever the graph's dtype). Not -inf, so
 * a fully masked row (a padding position) gives a uniform softmax, not NaN.
 */
export const MASKED_SCORE = -3.4028234663852886e38;
