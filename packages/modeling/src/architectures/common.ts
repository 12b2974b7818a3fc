import type { DecoderConfig } from "../config.js";
import { JsonConfig } from "./json-config.js";

type Common = Omit<DecoderConfig, "ropeTheta" | "ropeScaling" | "qkvBias" | "oBias" | "mlpBias" | "tieWordEmbeddings">;

/** The keys every decoder config shares, with the consistency checks between them. */
export function commonDecoderConfig(c: JsonConfig, architecture: string, family: string): Common {
  const hiddenSize = c.positiveInt("hidden_size");
  const numHeads = c.positiveInt("num_attention_heads");
  const numKvHeads = c.positiveInt("num_key_value_heads", numHeads);
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
    rmsNormEps: c.positiveNumber("rms_norm_eps", 1e-6),
    maxPositions: c.positiveInt("max_position_embeddings", 2048),
    bosTokenId: c.optionalId("bos_token_id"),
    eosTokenIds: c.ids("eos_token_id"),
    // transformers 4.56 and later write "dtype"; earlier versions "torch_dtype".
    torchDtype: c.optionalString("torch_dtype") ?? c.optionalString("dtype"),
  };
}
