import type { DecoderConfig } from "../config.js";
import type { PrefixCache } from "../eager/model.js";
import type { AdapterJson } from "./config-json.js";
import { prefixFromPeft } from "./prefix-layout.js";
import type { AdapterTensors } from "./tensor-file.js";

/*
 * PEFT prefix tuning (huggingface/peft: tuners/prefix_tuning/,
 * peft_model.py get_prompt and get_prompt_embedding_to_save,
 * utils/other.py _prepare_prompt_learning_config): adapter_config.json of a
 * PrefixTuningConfig and adapter_model.safetensors holding only
 * prompt_embeddings [num_virtual_tokens, num_layers*2*token_dim]. PEFT saves
 * the encoder's output, so with prefix_projection the MLP has already been
 * applied and the tensor is the keys and values themselves; a loaded model
 * in inference mode uses it as is. For grouped-query attention PEFT sets
 * token_dim = kv_heads*head_dim and num_attention_heads = kv_heads.
 */

const USED = ["num_virtual_tokens", "num_layers", "token_dim", "num_attention_heads", "num_transformer_submodules", "task_type"];

const IGNORED = [
  "peft_type",
  "auto_mapping",
  "peft_version",
  "base_model_name_or_path",
  "revision",
  "inference_mode",
  // The saved prompt_embeddings are the encoder's output either way (see above).
  "prefix_projection",
  "encoder_hidden_size",
  "init_weights",
];

const REFUSED: Readonly<Record<string, string>> = {
  modules_to_save: "fully trained extra modules are not supported",
};

/** Reads a PEFT prefix-tuning adapter into a PrefixCache for this model. */
export function readPeftPrefix(json: AdapterJson, tensors: AdapterTensors, cfg: DecoderConfig): PrefixCache {
  json.checkKeys({ used: USED, ignored: IGNORED, refused: REFUSED });
  const task = json.raw("task_type") ?? "CAUSAL_LM";
  if (task !== "CAUSAL_LM") throw json.error("task_type", `is ${JSON.stringify(task)}: prefix tuning of a decoder-only model is "CAUSAL_LM"`);
  const submodules = json.positiveInt("num_transformer_submodules", 1);
  if (submodules !== 1) throw json.error("num_transformer_submodules", `is ${submodules}: a decoder-only model has 1`);
  const tokens = json.positiveInt("num_virtual_tokens");
  const layers = json.positiveInt("num_layers", cfg.numLayers);
  if (layers !== cfg.numLayers) throw json.error("num_layers", `is ${layers}, but the model has ${cfg.numLayers} layers`);
  const kvDim = cfg.numKvHeads * cfg.headDim;
  const heads = json.positiveInt("num_attention_heads", cfg.numKvHeads);
  const tokenDim = json.positiveInt("token_dim", kvDim);
  if (heads !== cfg.numKvHeads || tokenDim !== kvDim) {
    const old = heads === cfg.numHeads && cfg.numHeads !== cfg.numKvHeads ? " (the layout of PEFT versions before grouped-query attention support, whose keys do not fit this model's KV cache)" : "";
    throw json.error(
      "num_attention_heads",
      `is ${heads} with token_dim ${tokenDim}; this model's KV cache has ${cfg.numKvHeads} key/value heads of ${cfg.headDim} (token_dim ${kvDim})${old}`,
    );
  }
  const shape = { tokens, layers, kvHeads: cfg.numKvHeads, headDim: cfg.headDim };
  const embeddings = tensors.read("prompt_embeddings", [tokens, layers * 2 * kvDim], `num_virtual_tokens ${tokens} x num_layers ${layers} * 2 * token_dim ${kvDim}`);
  tensors.checkAllRead("a prefix-tuning adapter holds prompt_embeddings only");
  return prefixFromPeft(embeddings, shape);
}
