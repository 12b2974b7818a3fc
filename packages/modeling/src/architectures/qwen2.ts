import type { DecoderConfig } from "../config.js";
import { JsonConfig } from "./json-config.js";
import { commonDecoderConfig, usesSlidingLayers, type ConfigDefaults } from "./common.js";

/** transformers' Qwen2Config defaults (rope_theta 10000, 32 KV heads, 32768 positions). */
const QWEN2_DEFAULTS: ConfigDefaults = {
  ropeTheta: 10000,
  maxPositionEmbeddings: 32768,
  numKeyValueHeads: 32,
  rmsNormEps: 1e-6,
  tieWordEmbeddings: false,
};
/** Qwen2Config's defaults for the window and for how many layers keep full attention (transformers 4.x). */
const QWEN2_SLIDING_WINDOW = 4096;
const QWEN2_MAX_WINDOW_LAYERS = 28;

/** Qwen2 and Qwen2.5: Llama's decoder with a bias on q, k and v. */
export function qwen2Config(c: JsonConfig, architecture: string): DecoderConfig {
  return {
    ...commonDecoderConfig(c, architecture, "qwen2", QWEN2_DEFAULTS, slidingWindow(c)),
    qkvBias: true,
    oBias: false,
    mlpBias: false,
  };
}

/**
 * The window Qwen2 applies, or null: with `use_sliding_window`, layers from
 * `max_window_layers` on (transformers 4.x), or those `layer_types` marks
 * "sliding_attention" (5.x), attend over the last `sliding_window` positions.
 */
function slidingWindow(c: JsonConfig): number | null {
  if (!c.bool("use_sliding_window", false)) return null;
  const sliding = usesSlidingLayers(c) ?? c.positiveInt("max_window_layers", QWEN2_MAX_WINDOW_LAYERS) < c.positiveInt("num_hidden_layers");
  return sliding ? c.positiveInt("sliding_window", QWEN2_SLIDING_WINDOW) : null;
}
