import type { DecoderConfig } from "../config.js";
import { JsonConfig } from "./json-config.js";
import { commonDecoderConfig } from "./common.js";

/** Qwen2 and Qwen2.5: Llama's decoder with a bias on q, k and v. */
export function qwen2Config(c: JsonConfig, architecture: string): DecoderConfig {
  if (c.bool("use_sliding_window", false)) {
    throw c.error("use_sliding_window", "is true: sliding-window attention is not supported");
  }
  if (c.has("rope_scaling")) {
    throw c.error("rope_scaling", "is set: rope scaling (YaRN) is not supported for Qwen2");
  }
  return {
    ...commonDecoderConfig(c, architecture, "qwen2"),
    ropeTheta: c.positiveNumber("rope_theta", 1000000),
    ropeScaling: null,
    qkvBias: true,
    oBias: false,
    mlpBias: false,
    tieWordEmbeddings: c.bool("tie_word_embeddings", false),
  };
}
