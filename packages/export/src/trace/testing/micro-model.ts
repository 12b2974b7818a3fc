import * as fs from "node:fs";
import * as path from "node:path";
import { type Tensor, writeSafetensors } from "@oar/tensor";
import { decoderParams, parseDecoderConfig } from "@oar/modeling";

/** A Llama config.json small enough to write in a millisecond: 2 layers, hidden 32, 4 heads (2 KV), vocab 64. */
export const MICRO_CONFIG = {
  architectures: ["LlamaForCausalLM"],
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 64,
  max_position_embeddings: 128,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
  bos_token_id: 1,
  eos_token_id: 2,
  torch_dtype: "float32",
};

export interface MicroModelOptions {
  /** A tensor to leave out. */
  readonly drop?: string;
  /** A tensor to write with this shape instead of the right one. */
  readonly reshape?: { readonly name: string; readonly shape: readonly number[] };
}

/**
 * Writes a random micro checkpoint in Hugging Face layout to `dir`:
 * config.json, model.safetensors, and small stand-ins for the tokenizer and
 * generation files, for tests of the export's files and errors.
 */
export function writeMicroModel(dir: string, options: MicroModelOptions = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(MICRO_CONFIG, null, 2));
  fs.writeFileSync(path.join(dir, "generation_config.json"), JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }));
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify({ version: "1.0", model: { type: "BPE", vocab: {}, merges: [] } }));
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify({ model_max_length: 128 }));
  fs.writeFileSync(path.join(dir, "special_tokens_map.json"), JSON.stringify({ eos_token: "</s>" }));
  const tensors: Record<string, Tensor> = {};
  let seed = 7;
  for (const p of decoderParams(parseDecoderConfig(MICRO_CONFIG))) {
    if (p.name === options.drop) continue;
    const shape = options.reshape?.name === p.name ? options.reshape.shape : p.shape;
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      data[i] = (seed / 2 ** 31 - 0.5) * (p.shape.length === 1 ? 0.2 : 0.5) + (p.shape.length === 1 && p.name.endsWith("norm.weight") ? 1 : 0);
    }
    tensors[p.name] = { dtype: "f32", shape, data };
  }
  writeSafetensors(path.join(dir, "model.safetensors"), tensors);
}
