import type { DecoderConfig, RopeScaling } from "../config.js";
import { JsonConfig } from "./json-config.js";
import { commonDecoderConfig } from "./common.js";

/**
 * The Llama family: Llama 2 and 3 (with Llama 3 rope scaling), TinyLlama,
 * and Mistral-style configs without a sliding window. Optional biases come
 * from `attention_bias` (q, k, v and o) and `mlp_bias`.
 */
export function llamaConfig(c: JsonConfig, architecture: string): DecoderConfig {
  if (c.has("sliding_window")) {
    throw c.error("sliding_window", "is set: sliding-window attention is not supported (use a config with \"sliding_window\": null)");
  }
  const attentionBias = c.bool("attention_bias", false);
  return {
    ...commonDecoderConfig(c, architecture, "llama"),
    ropeTheta: c.positiveNumber("rope_theta", 10000),
    ropeScaling: ropeScaling(c),
    qkvBias: attentionBias,
    oBias: attentionBias,
    mlpBias: c.bool("mlp_bias", false),
    tieWordEmbeddings: c.bool("tie_word_embeddings", false),
  };
}

function ropeScaling(c: JsonConfig): RopeScaling | null {
  const raw = c.raw("rope_scaling");
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== "object" || Array.isArray(raw)) throw c.error("rope_scaling", "must be an object or null");
  const s = new JsonConfig(raw as Record<string, unknown>, `${c.file} rope_scaling`);
  const type = s.optionalString("rope_type") ?? s.optionalString("type");
  if (type === "default") return null;
  if (type !== "llama3") {
    throw c.error("rope_scaling", `has rope_type ${JSON.stringify(type)}: only "llama3" scaling is supported`);
  }
  return {
    type: "llama3",
    factor: s.positiveNumber("factor"),
    lowFreqFactor: s.positiveNumber("low_freq_factor"),
    highFreqFactor: s.positiveNumber("high_freq_factor"),
    originalMaxPositions: s.positiveInt("original_max_position_embeddings"),
  };
}
