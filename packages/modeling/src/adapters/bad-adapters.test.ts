import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, test } from "node:test";
import { tensor, writeSafetensors } from "@oar/tensor";
import { editJson, randomPrefix, randomUpdates, tempDir, tinyConfig, uniform } from "./fixtures.js";
import { loadAdapters } from "./load.js";
import { writeNpy } from "./npy.js";
import { writePaddleLora, writePaddlePrefix, writePeftLora, writePeftPrefix } from "./write.js";

/*
 * Each way an adapter can be wrong, with the one-line error it gets: the
 * file, the key or tensor, what was expected and what was found.
 */

const cfg = tinyConfig();
const root = tempDir();
after(root.remove);
let counter = 0;

/** A fresh adapter directory of the given kind, changed by `spoil` before loading. */
function spoiled(kind: "peft-lora" | "paddle-lora" | "peft-prefix" | "paddle-prefix" | "paddle-projection", spoil: (dir: string) => void): string {
  const dir = path.join(root.dir, `${kind}-${counter++}`);
  const updates = randomUpdates(cfg, { rank: 2, seed: 1, suffixes: ["q_proj", "v_proj"] });
  switch (kind) {
    case "peft-lora":
      writePeftLora({ cfg, rank: 2, alpha: 4, updates, dir });
      break;
    case "paddle-lora":
      writePaddleLora({ cfg, rank: 2, alpha: 4, updates, dir });
      break;
    case "peft-prefix":
      writePeftPrefix({ cfg, prefix: randomPrefix(cfg, 3, 2), dir });
      break;
    case "paddle-prefix":
      writePaddlePrefix({ cfg, encoder: { kind: "embedding", prefix: randomPrefix(cfg, 3, 2) }, dir });
      break;
    case "paddle-projection": {
      const kvDim = cfg.numKvHeads * cfg.headDim;
      const out = 2 * cfg.numLayers * kvDim;
      const weights = { embedding: uniform(3 * kvDim, 1, 3, 0), w1: uniform(kvDim * 8, 0.2, 3, 1), b1: uniform(8, 0.1, 3, 2), w2: uniform(8 * out, 0.3, 3, 3), b2: uniform(out, 0.1, 3, 4), hidden: 8 };
      writePaddlePrefix({ cfg, encoder: { kind: "projection", tokens: 3, weights }, dir });
      break;
    }
  }
  spoil(dir);
  return dir;
}

function fails(dir: string, pattern: RegExp): void {
  assert.throws(
    () => loadAdapters([dir], cfg),
    (e: Error) => {
      assert.equal(e.name, "AdapterError", e.message);
      assert.match(e.message, pattern);
      assert.ok(e.message.startsWith(root.dir), `names the file: ${e.message}`);
      assert.ok(!e.message.includes("\n"), `one line: ${e.message}`);
      return true;
    },
  );
}

const peftConfig = (dir: string, edit: (j: Record<string, unknown>) => void): void => editJson(path.join(dir, "adapter_config.json"), edit);
const paddleConfig = (dir: string, edit: (j: Record<string, unknown>) => void): void => editJson(path.join(dir, "lora_config.json"), edit);
const prefixConfig = (dir: string, edit: (j: Record<string, unknown>) => void): void => editJson(path.join(dir, "prefix_config.json"), edit);
/** Replaces the adapter's safetensors file by these tensors (f32). */
function rewrite(file: string, tensors: Record<string, { shape: number[]; seed?: number }>): void {
  writeSafetensors(
    file,
    Object.entries(tensors).map(([name, t]) => [name, tensor("f32", t.shape, uniform(t.shape.reduce((a, b) => a * b, 1), 1, t.seed ?? 0, 0))] as const),
  );
}
const A = (l: number, m = "q_proj"): string => `base_model.model.model.layers.${l}.self_attn.${m}.lora_A.weight`;
const B = (l: number, m = "q_proj"): string => `base_model.model.model.layers.${l}.self_attn.${m}.lora_B.weight`;
const peftLoraTensors = (overrides: Record<string, { shape: number[] }>): Record<string, { shape: number[] }> => ({
  [A(0)]: { shape: [2, 64] },
  [B(0)]: { shape: [64, 2] },
  [A(1)]: { shape: [2, 64] },
  [B(1)]: { shape: [64, 2] },
  ...overrides,
});

test("directories: missing, not an adapter, two configs, pickles only", () => {
  fails(path.join(root.dir, "nothing-here"), /nothing-here: cannot open adapter directory/);
  const empty = path.join(root.dir, "empty");
  fs.mkdirSync(empty);
  fails(empty, /empty: no adapter_config\.json \(PEFT\), lora_config\.json or prefix_config\.json \(PaddleNLP\): not an adapter directory/);
  fails(spoiled("peft-lora", (d) => fs.writeFileSync(path.join(d, "lora_config.json"), "{}")), /holds both adapter_config\.json and lora_config\.json/);
  fails(
    spoiled("peft-lora", (d) => fs.renameSync(path.join(d, "adapter_model.safetensors"), path.join(d, "adapter_model.bin"))),
    /no adapter_model\.safetensors beside adapter_config\.json \(adapter_model\.bin is a pickle/,
  );
  fails(spoiled("paddle-lora", (d) => fs.renameSync(path.join(d, "peft_model.safetensors"), path.join(d, "lora_model_state.pdparams"))), /weights are in lora_model_state\.pdparams, a pickle/);
  fails(spoiled("paddle-lora", (d) => fs.rmSync(path.join(d, "peft_model.safetensors"))), /no peft_model\.safetensors or peft_model\.safetensors\.index\.json beside lora_config\.json/);
  fails(spoiled("peft-lora", (d) => fs.writeFileSync(path.join(d, "adapter_config.json"), "{ nope")), /adapter_config\.json: not valid JSON/);
  fails(spoiled("peft-lora", (d) => fs.writeFileSync(path.join(d, "adapter_config.json"), "[1]")), /adapter_config\.json: must hold a JSON object/);
});

test("PEFT config: unknown peft_type, unsupported features, base-changing initializations", () => {
  fails(spoiled("peft-lora", (d) => peftConfig(d, (j) => { j["peft_type"] = "IA3"; })), /"peft_type" is "IA3"; Oar reads "LORA" and "PREFIX_TUNING" adapters/);
  fails(spoiled("peft-lora", (d) => peftConfig(d, (j) => { j["bias"] = "all"; })), /"bias" is "all": only "none" is supported/);
  fails(spoiled("peft-lora", (d) => peftConfig(d, (j) => { j["use_dora"] = true; })), /"use_dora" is true: DoRA is not supported/);
  fails(spoiled("peft-lora", (d) => peftConfig(d, (j) => { j["modules_to_save"] = ["lm_head"]; })), /"modules_to_save" is \["lm_head"\]: fully trained extra modules are not supported/);
  fails(spoiled("peft-lora", (d) => peftConfig(d, (j) => { j["init_lora_weights"] = "pissa_niter_4"; })), /"init_lora_weights" is "pissa_niter_4": such adapters were trained against base weights/);
  fails(spoiled("peft-lora", (d) => peftConfig(d, (j) => { j["init_lora_weights"] = "loftq"; })), /"init_lora_weights" is "loftq"/);
  fails(spoiled("peft-lora", (d) => peftConfig(d, (j) => { j["init_lora_weights"] = "mica"; })), /"init_lora_weights" is "mica", an initialization Oar does not know/);
  fails(spoiled("peft-lora", (d) => peftConfig(d, (j) => { j["use_magic"] = { on: true }; })), /"use_magic" is \{"on":true\}, a setting Oar does not understand/);
  fails(spoiled("peft-lora", (d) => peftConfig(d, (j) => { j["r"] = 0; })), /"r" must be a positive integer, got 0/);
  // Empty values of unknown keys, and fan_in_fan_out (PEFT resets it for nn.Linear), are accepted.
  assert.equal(loadAdapters([spoiled("peft-lora", (d) => peftConfig(d, (j) => { j["use_magic"] = null; j["fan_in_fan_out"] = true; }))], cfg).lora.length, 4);
});

test("PEFT targets: nothing matched, a module that is not a linear layer, bad regular expressions", () => {
  fails(spoiled("peft-lora", (d) => peftConfig(d, (j) => { j["target_modules"] = ["c_attn"]; })), /"target_modules" \["c_attn"\] matches no module of this model \(its linear layers are named like "model\.layers\.0\.self_attn\.q_proj"\)/);
  fails(spoiled("peft-lora", (d) => peftConfig(d, (j) => { j["target_modules"] = ["q_proj", "self_attn"]; })), /matches "model\.layers\.0\.self_attn", which is a container of other modules, not a linear layer/);
  fails(spoiled("peft-lora", (d) => peftConfig(d, (j) => { j["target_modules"] = ["q_proj", "lm_head"]; })), /matches "lm_head", which is the output projection: LoRA on lm_head is not supported/);
  fails(spoiled("peft-lora", (d) => peftConfig(d, (j) => { j["target_modules"] = ".*embed_tokens"; })), /matches "model\.embed_tokens", which is the token embedding: LoRA on embeddings is not supported/);
  fails(spoiled("peft-lora", (d) => peftConfig(d, (j) => { j["target_modules"] = "(?P<x>q_proj)"; })), /uses Python-only regular expression syntax/);
  fails(spoiled("peft-lora", (d) => peftConfig(d, (j) => { j["target_modules"] = ".*q_proj("; })), /"target_modules": ".*q_proj\(" is not a valid regular expression/);
  fails(spoiled("peft-lora", (d) => peftConfig(d, (j) => { delete j["target_modules"]; })), /"target_modules" is missing/);
});

test("PEFT tensors: missing, unused, rank mismatches, shapes that do not fit the layer", () => {
  const st = (d: string): string => path.join(d, "adapter_model.safetensors");
  /** An adapter targeting q_proj whose file holds q_proj's tensors with these changes. */
  const qOnly = (overrides: Record<string, { shape: number[] }>): string =>
    spoiled("peft-lora", (d) => {
      peftConfig(d, (j) => { j["target_modules"] = ["q_proj"]; });
      rewrite(st(d), peftLoraTensors(overrides));
    });
  assert.equal(loadAdapters([qOnly({})], cfg).lora.length, 2);
  fails(qOnly({ [B(1)]: { shape: [64, 3] } }), /rank mismatch for model\.layers\.1\.self_attn\.q_proj: lora_A is \[2, 64\] \(rank 2\), lora_B is \[64, 3\] \(rank 3\)/);
  fails(
    qOnly({ [A(1)]: { shape: [3, 64] }, [B(1)]: { shape: [64, 3] } }),
    /tensor "base_model\.model\.model\.layers\.1\.self_attn\.q_proj\.lora_A\.weight" \(lora_A of model\.layers\.1\.self_attn\.q_proj: rank 2 \(r in .*adapter_config\.json\) x in_features 64\) has shape \[3, 64\], expected \[2, 64\]/,
  );
  fails(qOnly({ [A(0)]: { shape: [2, 32] } }), /lora_A of model\.layers\.0\.self_attn\.q_proj: .* x in_features 64\) has shape \[2, 32\], expected \[2, 64\]/);
  fails(qOnly({ [B(0)]: { shape: [32, 2] } }), /lora_B of model\.layers\.0\.self_attn\.q_proj: out_features 64 x .*has shape \[32, 2\], expected \[64, 2\]/);
  fails(
    spoiled("peft-lora", (d) => {
      peftConfig(d, (j) => { j["target_modules"] = ["q_proj", "k_proj"]; });
      rewrite(st(d), peftLoraTensors({}));
    }),
    /tensor "base_model\.model\.model\.layers\.0\.self_attn\.k_proj\.lora_A\.weight" is missing \(.*adapter_config\.json targets model\.layers\.0\.self_attn\.k_proj\)/,
  );
  fails(
    qOnly({ "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector": { shape: [64] } }),
    /tensor "base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_magnitude_vector" is not used: it is not the lora_A or lora_B of a module .*adapter_config\.json targets/,
  );
});

test("PaddleNLP LoRA: pissa, LoRA-GA and other features, scaling, targets, tensors", () => {
  fails(spoiled("paddle-lora", (d) => paddleConfig(d, (j) => { j["pissa"] = true; })), /lora_config\.json: "pissa" is true: PaddleNLP's PiSSA replaces the base weight/);
  fails(spoiled("paddle-lora", (d) => paddleConfig(d, (j) => { j["loraga"] = true; })), /"loraga" is true: LoRA-GA adapters/);
  fails(spoiled("paddle-lora", (d) => paddleConfig(d, (j) => { j["use_mora"] = true; })), /"use_mora" is true: MoRA is not supported/);
  fails(spoiled("paddle-lora", (d) => paddleConfig(d, (j) => { j["enable_lora_list"] = [[true, false, true]]; })), /"enable_lora_list" .*fused q\/k\/v layers/);
  fails(spoiled("paddle-lora", (d) => paddleConfig(d, (j) => { j["scaling"] = 4; })), /"scaling" is 4, but lora_alpha \/ r = 4 \/ 2 = 2; PaddleNLP recomputes the scaling/);
  fails(spoiled("paddle-lora", (d) => paddleConfig(d, (j) => { j["target_modules"] = [".*query_key_value.*"]; })), /"target_modules" \[".\*query_key_value.\*"\] matches no module of this model \(its linear layers are named like "qwen2\.layers\.0\.self_attn\.q_proj"\)/);
  fails(spoiled("paddle-lora", (d) => paddleConfig(d, (j) => { j["target_modules"] = [".*q_proj.*", ".*norm"]; })), /matches "qwen2\.layers\.0\.input_layernorm", which is an RMS norm, not a linear layer/);
  // PaddleNLP full-matches: "q_proj" alone names no layer.
  fails(spoiled("paddle-lora", (d) => paddleConfig(d, (j) => { j["target_modules"] = ["q_proj", "v_proj"]; })), /matches no module of this model/);
  const st = (d: string): string => path.join(d, "peft_model.safetensors");
  const paddle = (overrides: Record<string, { shape: number[] }>): Record<string, { shape: number[] }> => {
    const t: Record<string, { shape: number[] }> = {};
    for (const l of [0, 1]) {
      for (const m of ["q_proj", "v_proj"]) {
        const out = m === "q_proj" ? 64 : 32;
        t[`qwen2.layers.${l}.self_attn.${m}.lora_A`] = { shape: [64, 2] };
        t[`qwen2.layers.${l}.self_attn.${m}.lora_B`] = { shape: [2, out] };
      }
    }
    return { ...t, ...overrides };
  };
  assert.equal(loadAdapters([spoiled("paddle-lora", (d) => rewrite(st(d), paddle({})))], cfg).lora.length, 4);
  fails(spoiled("paddle-lora", (d) => rewrite(st(d), paddle({ "qwen2.layers.1.self_attn.v_proj.lora_B": { shape: [4, 32] } }))), /rank mismatch for qwen2\.layers\.1\.self_attn\.v_proj: lora_A is \[64, 2\] \(rank 2\), lora_B is \[4, 32\] \(rank 4\)/);
  fails(
    spoiled("paddle-lora", (d) => rewrite(st(d), paddle({ "qwen2.layers.1.self_attn.v_proj.lora_A": { shape: [64, 4] }, "qwen2.layers.1.self_attn.v_proj.lora_B": { shape: [4, 32] } }))),
    /"qwen2\.layers\.1\.self_attn\.v_proj\.lora_A" \(lora_A of qwen2\.layers\.1\.self_attn\.v_proj: in_features 64 x rank 2 \(r in .*lora_config\.json\)\) has shape \[64, 4\], expected \[64, 2\]/,
  );
  // Paddle layout is [in, out]: a Hugging Face-layout B [out, r] does not fit.
  fails(spoiled("paddle-lora", (d) => rewrite(st(d), paddle({ "qwen2.layers.0.self_attn.v_proj.lora_B": { shape: [32, 2] } }))), /rank mismatch for qwen2\.layers\.0\.self_attn\.v_proj/);
  fails(spoiled("paddle-lora", (d) => rewrite(st(d), paddle({ "qwen2.layers.0.self_attn.k_proj.lora_A": { shape: [64, 2] } }))), /tensor "qwen2\.layers\.0\.self_attn\.k_proj\.lora_A" is not used: it is not the lora_A or lora_B of a layer .*lora_config\.json targets/);
});

test("PaddleNLP shards: the index and the shards must agree", () => {
  const sharded = (spoil: (dir: string, index: { weight_map: Record<string, string> }) => void): string => {
    const dir = path.join(root.dir, `sharded-${counter++}`);
    writePaddleLora({ cfg, rank: 2, alpha: 4, updates: randomUpdates(cfg, { rank: 2, seed: 1, suffixes: ["q_proj"] }), dir, shards: 2 });
    const file = path.join(dir, "peft_model.safetensors.index.json");
    const index = JSON.parse(fs.readFileSync(file, "utf8")) as { weight_map: Record<string, string> };
    spoil(dir, index);
    fs.writeFileSync(file, JSON.stringify(index));
    return dir;
  };
  assert.equal(loadAdapters([sharded(() => undefined)], cfg).lora.length, 2);
  fails(sharded((_, i) => { i.weight_map["qwen2.layers.0.self_attn.q_proj.lora_A"] = "peft_model-00002-of-00002.safetensors"; }), /weight_map puts "qwen2\.layers\.0\.self_attn\.q_proj\.lora_A" in peft_model-00002-of-00002\.safetensors, which does not hold it/);
  fails(sharded((_, i) => { delete i.weight_map["qwen2.layers.0.self_attn.q_proj.lora_B"]; }), /shard peft_model-00001-of-00002\.safetensors holds "qwen2\.layers\.0\.self_attn\.q_proj\.lora_B", which weight_map does not put there/);
  fails(sharded((d) => fs.rmSync(path.join(d, "peft_model-00002-of-00002.safetensors"))), /peft_model-00002-of-00002\.safetensors, which does not exist/);
  fails(sharded((_, i) => { i.weight_map["x"] = "../elsewhere.safetensors"; }), /weight_map maps "x" to "\.\.\/elsewhere\.safetensors", not a file name in/);
});

test("PEFT prefix: sizes that do not match the config or the model", () => {
  const st = (d: string): string => path.join(d, "adapter_model.safetensors");
  fails(spoiled("peft-prefix", (d) => peftConfig(d, (j) => { j["num_virtual_tokens"] = 4; })), /tensor "prompt_embeddings" \(num_virtual_tokens 4 x num_layers 2 \* 2 \* token_dim 32\) has shape \[3, 128\], expected \[4, 128\]/);
  fails(spoiled("peft-prefix", (d) => peftConfig(d, (j) => { j["num_layers"] = 24; })), /"num_layers" is 24, but the model has 2 layers/);
  fails(spoiled("peft-prefix", (d) => peftConfig(d, (j) => { j["num_attention_heads"] = 4; j["token_dim"] = 64; })), /"num_attention_heads" is 4 with token_dim 64; this model's KV cache has 2 key\/value heads of 16 \(token_dim 32\) \(the layout of PEFT versions before grouped-query attention support/);
  fails(spoiled("peft-prefix", (d) => peftConfig(d, (j) => { j["task_type"] = "SEQ_2_SEQ_LM"; })), /"task_type" is "SEQ_2_SEQ_LM": prefix tuning of a decoder-only model is "CAUSAL_LM"/);
  fails(spoiled("peft-prefix", (d) => peftConfig(d, (j) => { j["num_transformer_submodules"] = 2; })), /"num_transformer_submodules" is 2: a decoder-only model has 1/);
  fails(spoiled("peft-prefix", (d) => rewrite(st(d), { prompt_embeddings: { shape: [3, 128] }, extra: { shape: [1] } })), /tensor "extra" is not used: a prefix-tuning adapter holds prompt_embeddings only/);
});

test("PaddleNLP prefix: config against the model, weights against the config, projection weights, pre_caches.npy", () => {
  fails(spoiled("paddle-prefix", (d) => prefixConfig(d, (j) => { j["num_hidden_layers"] = 24; })), /"num_hidden_layers" is 24, but the model has 2 layers/);
  fails(spoiled("paddle-prefix", (d) => prefixConfig(d, (j) => { j["num_attention_heads"] = 8; })), /"num_attention_heads" is 8, but the model has 4 attention heads/);
  fails(spoiled("paddle-prefix", (d) => prefixConfig(d, (j) => { j["multi_query_group_num"] = null; })), /"multi_query_group_num" is absent \(so num_attention_heads, 4\), but the model has 2 key\/value heads/);
  fails(spoiled("paddle-prefix", (d) => prefixConfig(d, (j) => { j["hidden_size"] = 128; })), /"hidden_size" is 128: hidden_size \/ num_attention_heads = 32, but the model's head_dim is 16/);
  fails(spoiled("paddle-prefix", (d) => prefixConfig(d, (j) => { j["num_prefix_tokens"] = 5; })), /tensor "0\.weight" \(num_prefix_tokens 5 x 2 \* num_hidden_layers 2 \* kv_dim 32\) has shape \[3, 128\], expected \[5, 128\]/);
  fails(spoiled("paddle-prefix", (d) => prefixConfig(d, (j) => { j["prefix_projection"] = true; j["prefix_projection_hidden_size"] = 8; })), /tensor "0\.weight" \(embedding: num_prefix_tokens 3 x kv_dim 32\) has shape \[3, 128\], expected \[3, 32\]/);
  fails(spoiled("paddle-projection", (d) => prefixConfig(d, (j) => { j["prefix_projection"] = false; })), /holds "1\.weight", a projection layer, but .*prefix_config\.json says prefix_projection is false/);
  const st = (d: string): string => path.join(d, "peft_model.safetensors");
  fails(
    spoiled("paddle-projection", (d) => {
      fs.rmSync(path.join(d, "pre_caches.npy"));
      rewrite(st(d), { "0.weight": { shape: [3, 32] }, "1.weight": { shape: [32, 8] }, "3.weight": { shape: [8, 128] }, "3.bias": { shape: [128] } });
    }),
    /tensor "1\.bias" \(first Linear's bias\) is missing, so the projecting prefix encoder \(Embedding, Linear, Tanh, Linear\) cannot be evaluated/,
  );
  fails(
    spoiled("paddle-projection", (d) => {
      fs.rmSync(path.join(d, "pre_caches.npy"));
      rewrite(st(d), { "0.weight": { shape: [3, 32] }, "1.weight": { shape: [32, 9] }, "1.bias": { shape: [8] }, "3.weight": { shape: [8, 128] }, "3.bias": { shape: [128] } });
    }),
    /tensor "1\.weight" \(first Linear: kv_dim 32 x prefix_projection_hidden_size 8\) has shape \[32, 9\], expected \[32, 8\]/,
  );
  fails(
    spoiled("paddle-prefix", (d) => writeNpy(path.join(d, "pre_caches.npy"), { shape: [2, 2, 2, 4, 16], data: new Float32Array(2 * 2 * 2 * 4 * 16) })),
    /pre_caches\.npy: shape \[2, 2, 2, 4, 16\], expected \[layers, 2, kv_heads, num_prefix_tokens, head_dim\] = \[2, 2, 2, 3, 16\]/,
  );
  fails(
    spoiled("paddle-prefix", (d) => writeNpy(path.join(d, "pre_caches.npy"), { shape: [2, 2, 2, 3, 16], data: new Float32Array(2 * 2 * 2 * 3 * 16) })),
    /pre_caches\.npy: disagrees with the prefix encoder in .*peft_model\.safetensors \(layer 0 keys, element 0: 0 vs .*\); one of them is stale/,
  );
  fails(
    spoiled("paddle-prefix", (d) => {
      fs.rmSync(path.join(d, "pre_caches.npy"));
      fs.renameSync(path.join(d, "peft_model.safetensors"), path.join(d, "prefix_model_state.pdparams"));
    }),
    /weights are in prefix_model_state\.pdparams, a pickle/,
  );
  // PaddleNLP's own save_pretrained writes the pickle and pre_caches.npy: the npy is enough.
  const pickled = spoiled("paddle-prefix", (d) => fs.renameSync(path.join(d, "peft_model.safetensors"), path.join(d, "prefix_model_state.pdparams")));
  assert.equal(loadAdapters([pickled], cfg).prefix?.length, 3);
});

test("stacking: LoRA adapters add up, a second prefix is refused", () => {
  const lora = spoiled("peft-lora", () => undefined);
  const a = spoiled("peft-prefix", () => undefined);
  const b = spoiled("paddle-prefix", () => undefined);
  const stacked = loadAdapters([lora, a, lora], cfg);
  assert.equal(stacked.lora.length, 8);
  assert.equal(stacked.prefix?.length, 3);
  assert.throws(() => loadAdapters([a, lora, b], cfg), new RegExp(`${b}: a second prefix \\(the first came from ${a}\\); prefixes do not stack`));
});

test("PaddleNLP adapters for an architecture whose Paddle layer names are unknown are refused", () => {
  const dir = spoiled("paddle-lora", () => undefined);
  const mistral = { ...cfg, architecture: "MistralForCausalLM" };
  assert.throws(() => loadAdapters([dir], mistral), /lora_config\.json: PaddleNLP adapters are read for Qwen2ForCausalLM and LlamaForCausalLM; this model is MistralForCausalLM/);
});
