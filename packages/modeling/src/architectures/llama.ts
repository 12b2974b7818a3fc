import type { DecoderConfig } from "../config.js";
import { JsonConfig } from "./json-config.js";
import { commonDecoderConfig, type ConfigDefaults } from "./common.js";

/** transformers' LlamaConfig defaults. */
const LLAMA_DEFAULTS: ConfigDefaults = {
  ropeTheta: 10000,
  maxPositionEmbeddings: 2048,
  numKeyValueHeads: null,
  rmsNormEps: 1e-6,
  tieWordEmbeddings: false,
};

/** transformers' MistralConfig defaults (8 KV heads, a 4096-position sliding window). */
const MISTRAL_DEFAULTS: ConfigDefaults = {
  ropeTheta: 10000,
  maxPositionEmbeddings: 4096 * 32,
  numKeyValueHeads: 8,
  rmsNormEps: 1e-6,
  tieWordEmbeddings: false,
};
const MISTRAL_SLIDING_WINDOW = 4096;

/**
 * The Llama family: Llama 2 and 3 (with Llama 3 rope scaling), TinyLlama.
 * Optional biases come from `attention_bias` (q, k, v and o) and `mlp_bias`.
 * LlamaForCausalLM has no sliding window (transformers ignores the key).
 */
export function llamaConfig(c: JsonConfig, architecture: string): DecoderConfig {
  return llamaLike(c, architecture, LLAMA_DEFAULTS, null);
}

/**
 * Mistral: Llama's decoder with sliding-window attention, `sliding_window`
 * positions wide (MistralConfig's default 4096 when the key is absent; null
 * turns it off). The window caps the context (see commonDecoderConfig).
 */
export function mistralConfig(c: JsonConfig, architecture: string): DecoderConfig {
  const raw = c.raw("sliding_window");
  const window = raw === null ? null : raw === undefined ? MISTRAL_SLIDING_WINDOW : c.positiveInt("sliding_window");
  return llamaLike(c, architecture, MISTRAL_DEFAULTS, window);
}

function llamaLike(c: JsonConfig, architecture: string, defaults: ConfigDefaults, window: number | null): DecoderConfig {
  const attentionBias = c.bool("attention_bias", false);
  return {
    ...commonDecoderConfig(c, architecture, "llama", defaults, window),
    qkvBias: attentionBias,
    oBias: attentionBias,
    mlpBias: c.bool("mlp_bias", false),
  };
}
