import type { DecoderConfig } from "../config.js";
import { JsonConfig } from "./json-config.js";
import { readRope } from "./rope-config.js";

type Common = Omit<DecoderConfig, "qkvBias" | "oBias" | "mlpBias">;

/**
 * An architecture's defaults for the keys a config may leave out: the
 * defaults of its transformers config class (Qwen2Config, LlamaConfig,
 * MistralConfig in transformers 4.x and 5.x alike), so a config that omits
 * a key means here what it means there.
 */
export interface ConfigDefaults {
  readonly ropeTheta: number;
  readonly maxPositionEmbeddings: number;
  /** null: the number of attention heads (LlamaConfig's rule). */
  readonly numKeyValueHeads: number | null;
  readonly rmsNormEps: number;
  readonly tieWordEmbeddings: boolean;
}

/**
 * The keys every decoder config shares, with the consistency checks between
 * them. `slidingWindow` is the attention window the architecture applies
 * (null for none): Oar computes full attention, which equals windowed
 * attention while a sequence holds at most that many positions, so the
 * window caps the context instead of being ignored.
 */
export function commonDecoderConfig(
  c: JsonConfig,
  architecture: string,
  family: string,
  defaults: ConfigDefaults,
  slidingWindow: number | null,
): Common {
  const hiddenSize = c.positiveInt("hidden_size");
  const numHeads = c.positiveInt("num_attention_heads");
  const numKvHeads = c.positiveInt("num_key_value_heads", defaults.numKeyValueHeads ?? numHeads);
  let headDim: number;
  if (c.has("head_dim")) {
    headDim = c.positiveInt("head_dim");
  } else {
    if (hiddenSize % numHeads !== 0) {
      throw c.error("num_attention_heads", `(${numHeads}) does not divide hidden_size (${hiddenSize})`);
    }
    headDim = hiddenSize / numHeads;
  }
  if (numHeads % numKvHeads !== 0) {
    throw c.error("num_key_value_heads", `(${numKvHeads}) does not divide num_attention_heads (${numHeads})`);
  }
  if (headDim % 2 !== 0) throw c.error("head_dim", `must be even for rotary embedding, got ${headDim}`);
  const activation = c.optionalString("hidden_act");
  if (activation !== null && activation !== "silu" && activation !== "swish") {
    throw c.error("hidden_act", `is ${JSON.stringify(activation)}: only "silu" (the SwiGLU MLP of Qwen2 and Llama) is supported`);
  }
  const maxPositionEmbeddings = c.positiveInt("max_position_embeddings", defaults.maxPositionEmbeddings);
  return {
    architecture,
    family,
    vocabSize: c.positiveInt("vocab_size"),
    hiddenSize,
    intermediateSize: c.positiveInt("intermediate_size"),
    numLayers: c.positiveInt("num_hidden_layers"),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: c.positiveNumber("rms_norm_eps", defaults.rmsNormEps),
    ...readRope(c, defaults.ropeTheta),
    maxPositions: slidingWindow === null ? maxPositionEmbeddings : Math.min(maxPositionEmbeddings, slidingWindow),
    tieWordEmbeddings: c.bool("tie_word_embeddings", defaults.tieWordEmbeddings),
    bosTokenId: c.optionalId("bos_token_id"),
    eosTokenIds: c.ids("eos_token_id"),
    // transformers 4.56 and later write "dtype"; earlier versions "torch_dtype".
    torchDtype: c.optionalString("torch_dtype") ?? c.optionalString("dtype"),
  };
}

/** `layer_types` as transformers 5 writes it: each layer full or sliding-window attention. */
export function usesSlidingLayers(c: JsonConfig): boolean | null {
  const raw = c.raw("layer_types");
  if (raw === undefined || raw === null) return null;
  if (!Array.isArray(raw)) throw c.error("layer_types", "must be a list of \"full_attention\" or \"sliding_attention\"");
  for (const t of raw) {
    if (t !== "full_attention" && t !== "sliding_attention") {
      throw c.error("layer_types", `names ${JSON.stringify(t)}: only "full_attention" and "sliding_attention" layers are supported`);
    }
  }
  return raw.includes("sliding_attention");
}
