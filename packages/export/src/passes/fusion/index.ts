import type { Pipeline } from "../../rewrite/manager.js";
import { cleanupPipeline } from "../cleanup.js";
import { deadCodeElimination } from "../dead-code.js";
import { attentionMetadataPass, attentionPresentRule, groupQueryAttentionRule } from "./attention.js";
import { gateUpBiasMergeRule, gateUpMergeRule, qkvBiasMergeRule, qkvMergeRule } from "./matmul-merge.js";
import { rmsNormRule, skipRmsNormRule } from "./rms-norm.js";
import { rotaryRule } from "./rotary.js";
import { siluRule } from "./silu.js";

export { ATTENTION_METADATA_KEY, type AttentionConvention, attentionMetadataPass, attentionPresentRule, groupQueryAttentionRule } from "./attention.js";
export { gateUpBiasMergeRule, gateUpMergeRule, qkvBiasMergeRule, qkvMergeRule } from "./matmul-merge.js";
export { rmsNormRule, skipRmsNormRule } from "./rms-norm.js";
export { type RotaryOptions, rotaryRule } from "./rotary.js";
export { siluRule } from "./silu.js";

export interface FusionOptions {
  /** The model's max_position_embeddings: rows of the rotary cos/sin caches (position ids must stay below it). */
  readonly maxPositions: number;
}

/**
 * The fusion passes, in the order each needs the previous: norms, rotary,
 * attention (which reads the fused rotary's [batch, sequence, hidden]
 * form), projection merges and the activation, then the generic cleanup
 * (folding, CSE of the per-layer attention inputs, dead code). Each
 * pipeline reports how often each rule fired and why it declined.
 */
export function fusionPipelines(options: FusionOptions): Pipeline[] {
  return [
    { name: "fusion-norms", passes: [rmsNormRule, skipRmsNormRule] },
    { name: "fusion-rotary", passes: [rotaryRule({ maxPositions: options.maxPositions })] },
    {
      name: "fusion-attention",
      passes: [groupQueryAttentionRule, deadCodeElimination, attentionPresentRule, deadCodeElimination, attentionMetadataPass],
    },
    {
      name: "fusion-projections",
      passes: [qkvMergeRule, gateUpMergeRule, qkvBiasMergeRule, gateUpBiasMergeRule, siluRule],
    },
    cleanupPipeline(),
  ];
}
