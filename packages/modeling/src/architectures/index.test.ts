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
  ["llama with unknown rope scaling", { ...qwen2, architectures: ["LlamaForCausalLM"], sliding_window: null, rope_scaling: { type: "yarn", factor: 4 } }, /"rope_scaling" has rope_type "yarn", which Oar does not implement \(implemented: default, linear, llama3\)/],
  ["transformers 5 rope type not implemented", { ...qwen2, rope_theta: undefined, rope_parameters: { rope_type: "dynamic", rope_theta: 10000, factor: 2 } }, /config\.json: "rope_parameters" has rope_type "dynamic", which Oar does not implement/],
  ["rope_theta disagreeing with rope_parameters", { ...qwen2, rope_parameters: { rope_type: "default", rope_theta: 10000 } }, /"rope_theta" is 1000000 but "rope_parameters" says rope_theta 10000/],
  ["both rope layouts", { ...qwen2, rope_theta: undefined, rope_scaling: { type: "linear", factor: 2 }, rope_parameters: { rope_type: "default", rope_theta: 10000 } }, /"rope_scaling" is set beside "rope_parameters"/],
  ["partial rotary", { ...qwen2, partial_rotary_factor: 0.5 }, /"partial_rotary_factor" is 0\.5: only rotary over the whole head/],
  ["rope parameters per layer type", { ...qwen2, rope_theta: undefined, rope_parameters: { full_attention: { rope_type: "default", rope_theta: 10000 }, sliding_attention: { rope_type: "default", rope_theta: 10000 } } }, /"rope_parameters" holds one set of rotary parameters per layer type/],
  ["unknown layer type", { ...qwen2, use_sliding_window: true, layer_types: ["full_attention", "chunked_attention"] }, /"layer_types" names "chunked_attention"/],
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

/** Qwen2-0.5B's config as transformers 5 writes it: the rotary base under rope_parameters, the dtype as "dtype". */
const qwen2v5 = {
  ...qwen2,
  rope_theta: undefined,
  torch_dtype: undefined,
  dtype: "bfloat16",
  rope_parameters: { rope_theta: 1000000, rope_type: "default" },
  layer_types: Array.from({ length: 24 }, () => "full_attention"),
};

test("a transformers 5 config reads as its transformers 4 twin", () => {
  assert.deepEqual(parseDecoderConfig(qwen2v5), parseDecoderConfig(qwen2));
  const llama3 = {
    architectures: ["LlamaForCausalLM"], hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32,
    num_key_value_heads: 8, vocab_size: 128256,
  };
  const scaling = { rope_type: "llama3", factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
  assert.deepEqual(
    parseDecoderConfig({ ...llama3, rope_parameters: { ...scaling, rope_theta: 500000 } }),
    parseDecoderConfig({ ...llama3, rope_theta: 500000, rope_scaling: scaling }),
  );
  assert.deepEqual(parseDecoderConfig({ ...llama3, rope_scaling: { type: "linear", factor: 2 } }).ropeScaling, { type: "linear", factor: 2 });
});

test("keys a config leaves out take transformers' defaults for its model type", () => {
  const bare = { ...qwen2, rope_theta: undefined, max_position_embeddings: undefined, tie_word_embeddings: undefined, rms_norm_eps: undefined };
  // Qwen2Config: rope_theta 10000 (not Qwen2-0.5B's 1e6), 32768 positions, untied, eps 1e-6.
  const q = parseDecoderConfig(bare);
  assert.deepEqual([q.ropeTheta, q.maxPositions, q.tieWordEmbeddings, q.rmsNormEps], [10000, 32768, false, 1e-6]);
  // Qwen2Config's num_key_value_heads defaults to 32, LlamaConfig's to the number of heads.
  assert.equal(parseDecoderConfig({ ...qwen2, hidden_size: 2048, num_attention_heads: 32, num_key_value_heads: undefined }).numKvHeads, 32);
  const llama = parseDecoderConfig({ ...bare, architectures: ["LlamaForCausalLM"], sliding_window: undefined, num_key_value_heads: undefined });
  assert.deepEqual([llama.ropeTheta, llama.maxPositions, llama.numKvHeads], [10000, 2048, 14]);
  // MistralConfig: 8 KV heads, and a 4096-position window when sliding_window is absent.
  const mistral = parseDecoderConfig({ ...bare, architectures: ["MistralForCausalLM"], hidden_size: 4096, num_attention_heads: 32, num_key_value_heads: undefined, sliding_window: undefined });
  assert.deepEqual([mistral.numKvHeads, mistral.maxPositions], [8, 4096]);
});

test("a sliding window caps the context at the window, where full attention equals it", () => {
  assert.equal(parseDecoderConfig({ ...qwen2, use_sliding_window: true, sliding_window: 4096, max_window_layers: 21 }).maxPositions, 4096);
  // Every layer below max_window_layers: no layer slides (transformers 4.x's rule).
  assert.equal(parseDecoderConfig({ ...qwen2, use_sliding_window: true, sliding_window: 4096, max_window_layers: 28 }).maxPositions, 32768);
  // transformers 5's layer_types decide instead.
  const types = Array.from({ length: 24 }, (_, i) => (i < 12 ? "full_attention" : "sliding_attention"));
  assert.equal(parseDecoderConfig({ ...qwen2, use_sliding_window: true, sliding_window: 8192, max_window_layers: 28, layer_types: types }).maxPositions, 8192);
  assert.equal(parseDecoderConfig({ ...qwen2, architectures: ["MistralForCausalLM"], sliding_window: 1024, use_sliding_window: undefined }).maxPositions, 1024);
  // LlamaForCausalLM has no sliding window: transformers ignores the key, and so does Oar.
  assert.equal(parseDecoderConfig({ ...qwen2, architectures: ["LlamaForCausalLM"], sliding_window: 1024 }).maxPositions, 32768);
});
