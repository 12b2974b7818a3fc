import test from "node:test";
import assert from "node:assert/strict";
import { parseDecoderConfig } from "./index.js";

const qwen2 = {
  architectures: ["Qwen2ForCausalLM"],
  hidden_size: 896,
  intermediate_size: 4864,
  num_hidden_layers: 24,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  max_position_embeddings: 32768,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  tie_word_embeddings: true,
  vocab_size: 151936,
  bos_token_id: 151643,
  eos_token_id: 151643,
  torch_dtype: "bfloat16",
  use_sliding_window: false,
  sliding_window: 32768,
};

test("Qwen2-0.5B's config: q/k/v bias, tied embeddings, head_dim from hidden/heads", () => {
  const c = parseDecoderConfig(qwen2);
  assert.equal(c.family, "qwen2");
  assert.equal(c.headDim, 64);
  assert.equal(c.qkvBias, true);
  assert.equal(c.oBias, false);
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.ropeTheta, 1e6);
  assert.deepEqual(c.eosTokenIds, [151643]);
});

test("Llama 3 config with explicit head_dim, llama3 rope scaling and eos list", () => {
  const c = parseDecoderConfig({
    architectures: ["LlamaForCausalLM"],
    hidden_size: 2048,
    intermediate_size: 8192,
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 64,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    rope_scaling: { rope_type: "llama3", factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    vocab_size: 128256,
    eos_token_id: [128001, 128008, 128009],
    tie_word_embeddings: true,
  });
  assert.equal(c.family, "llama");
  assert.equal(c.headDim, 64);
  assert.deepEqual(c.ropeScaling, { type: "llama3", factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 });
  assert.deepEqual(c.eosTokenIds, [128001, 128008, 128009]);
  assert.equal(c.qkvBias, false);
});

test("Mistral-style config without a sliding window reads as the Llama family", () => {
  const c = parseDecoderConfig({ ...qwen2, architectures: ["MistralForCausalLM"], sliding_window: null, use_sliding_window: undefined });
  assert.equal(c.family, "llama");
  assert.equal(c.qkvBias, false);
});

const bad: [string, Record<string, unknown>, RegExp][] = [
  ["unknown architecture", { ...qwen2, architectures: ["GPT2LMHeadModel"] }, /config\.json: "architectures" names GPT2LMHeadModel, which is not supported/],
  ["no architectures", { ...qwen2, architectures: undefined }, /"architectures" must be a list/],
  ["heads not dividing hidden", { ...qwen2, num_attention_heads: 15 }, /"num_attention_heads" \(15\) does not divide hidden_size \(896\)/],
  ["kv heads not dividing heads", { ...qwen2, num_key_value_heads: 3 }, /"num_key_value_heads" \(3\) does not divide num_attention_heads \(14\)/],
  ["missing hidden_size", { ...qwen2, hidden_size: undefined }, /"hidden_size" must be a positive integer, got nothing/],
  ["fractional layers", { ...qwen2, num_hidden_layers: 2.5 }, /"num_hidden_layers" must be a positive integer, got 2.5/],
  ["sliding window on", { ...qwen2, use_sliding_window: true }, /"use_sliding_window" is true/],
  ["llama with unknown rope scaling", { ...qwen2, architectures: ["LlamaForCausalLM"], sliding_window: null, rope_scaling: { type: "yarn", factor: 4 } }, /only "llama3" scaling is supported/],
  ["gelu activation", { ...qwen2, hidden_act: "gelu" }, /"hidden_act" is "gelu": only "silu"/],
  ["string eos", { ...qwen2, eos_token_id: "</s>" }, /"eos_token_id" must be a token id or a list of them/],
];

for (const [what, json, message] of bad) {
  test(`config error: ${what}`, () => {
    assert.throws(() => parseDecoderConfig(json), message);
  });
}

test("the storage dtype is read from torch_dtype, or from dtype as newer transformers write it", () => {
  assert.equal(parseDecoderConfig({ ...qwen2, torch_dtype: "bfloat16" }).torchDtype, "bfloat16");
  assert.equal(parseDecoderConfig({ ...qwen2, torch_dtype: undefined, dtype: "float16" }).torchDtype, "float16");
  assert.equal(parseDecoderConfig({ ...qwen2, torch_dtype: undefined }).torchDtype, null);
});

test("a config that is not an object names the file", () => {
  assert.throws(() => parseDecoderConfig([1, 2], "models/x/config.json"), /models\/x\/config\.json: must hold a JSON object/);
});
