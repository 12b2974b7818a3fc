import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { editJson, randomPrefix, randomUpdates, tempDir, tinyConfig, uniform } from "./fixtures.js";
import { loadAdapters, type Adapters } from "./load.js";
import { loraScale } from "./lora.js";
import { evaluatePaddleProjection, prefixFromPaddle } from "./prefix-layout.js";
import { writePaddleLora, writePaddlePrefix, writePeftLora, writePeftPrefix } from "./write.js";

const cfg = tinyConfig();

/** The layers without their `source`, which names the file. */
function values(a: Adapters): unknown[] {
  return a.lora.map(({ source: _, ...rest }) => rest);
}

test("PEFT and PaddleNLP encodings of one LoRA adapter read back to the same layers, in Hugging Face layout", () => {
  const t = tempDir();
  try {
    const updates = randomUpdates(cfg, { rank: 4, seed: 1 });
    const common = { cfg, rank: 4, alpha: 8, updates };
    writePeftLora({ ...common, dir: path.join(t.dir, "peft") });
    writePaddleLora({ ...common, dir: path.join(t.dir, "paddle") });
    writePaddleLora({ ...common, dir: path.join(t.dir, "sharded"), shards: 3 });
    const peft = loadAdapters([path.join(t.dir, "peft")], cfg);
    assert.equal(peft.lora.length, 14);
    assert.equal(peft.prefix, null);
    const first = peft.lora[0]!;
    assert.deepEqual({ module: first.module, rank: first.rank, in: first.inFeatures, out: first.outFeatures, scale: first.scale }, { module: "model.layers.0.self_attn.q_proj", rank: 4, in: 64, out: 64, scale: 2 });
    assert.deepEqual(first.a, updates[0]!.a);
    assert.deepEqual(first.b, updates[0]!.b);
    const paddle = loadAdapters([path.join(t.dir, "paddle")], cfg);
    const sharded = loadAdapters([path.join(t.dir, "sharded")], cfg);
    assert.deepEqual(values(paddle), values(peft));
    assert.deepEqual(values(sharded), values(peft));
    assert.deepEqual(sharded.sources[0]!.files, [
      "lora_config.json",
      "peft_model.safetensors.index.json",
      "peft_model-00001-of-00003.safetensors",
      "peft_model-00002-of-00003.safetensors",
      "peft_model-00003-of-00003.safetensors",
    ]);
    assert.deepEqual(
      loadAdapters([path.join(t.dir, "peft"), path.join(t.dir, "paddle")], cfg).sources.map((s) => s.format),
      ["peft-lora", "paddle-lora"],
    );
  } finally {
    t.remove();
  }
});

test("rsLoRA scales by alpha / sqrt(r) in both formats; f16 and bf16 tensors are widened", () => {
  const t = tempDir();
  try {
    const updates = randomUpdates(cfg, { rank: 4, seed: 2, suffixes: ["v_proj"] });
    writePeftLora({ cfg, rank: 4, alpha: 6, rslora: true, updates, dir: path.join(t.dir, "peft"), dtype: "bf16" });
    writePaddleLora({ cfg, rank: 4, alpha: 6, rslora: true, updates, dir: path.join(t.dir, "paddle"), dtype: "bf16" });
    const peft = loadAdapters([path.join(t.dir, "peft")], cfg);
    assert.deepEqual(peft.lora.map((l) => [l.module, l.scale]), [["model.layers.0.self_attn.v_proj", 3], ["model.layers.1.self_attn.v_proj", 3]]);
    assert.deepEqual(values(loadAdapters([path.join(t.dir, "paddle")], cfg)), values(peft));
    assert.ok(Math.abs(peft.lora[0]!.a[0]! - updates[0]!.a[0]!) < 1e-2 * Math.abs(updates[0]!.a[0]!) + 1e-6);
    assert.equal(loraScale({ alpha: 16, rank: 4, rslora: false }), 4);
  } finally {
    t.remove();
  }
});

test("PEFT target rules: a regex full-matches, a list matches name suffixes, layers_to_transform, exclude_modules, rank and alpha patterns", () => {
  const t = tempDir();
  try {
    const dir = path.join(t.dir, "peft");
    const updates = randomUpdates(cfg, { rank: 2, seed: 3 });
    writePeftLora({ cfg, rank: 2, alpha: 4, updates, dir });
    const config = path.join(dir, "adapter_config.json");
    const modules = (): string[] => loadAdapters([dir], cfg).lora.map((l) => l.module);
    // Tensors of modules the config does not target are an error, so drop them from the file by targeting everything the file holds.
    editJson(config, (j) => {
      j["target_modules"] = "model\\.layers\\.\\d+\\.(self_attn|mlp)\\.\\w+_proj";
    });
    assert.equal(modules().length, 14);
    editJson(config, (j) => {
      j["target_modules"] = "all-linear";
    });
    assert.equal(modules().length, 14);
    editJson(config, (j) => {
      j["target_modules"] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
      j["rank_pattern"] = {};
      j["alpha_pattern"] = { "layers.1.mlp.up_proj": 8, down_proj: 2 };
    });
    const scales = new Map(loadAdapters([dir], cfg).lora.map((l) => [l.module, l.scale]));
    assert.deepEqual([scales.get("model.layers.1.mlp.up_proj"), scales.get("model.layers.0.mlp.up_proj"), scales.get("model.layers.0.mlp.down_proj")], [4, 2, 1]);
    editJson(config, (j) => {
      j["alpha_pattern"] = {};
      j["exclude_modules"] = ["down_proj"];
    });
    assert.throws(() => loadAdapters([dir], cfg), /adapter_model\.safetensors: tensor "base_model\.model\.model\.layers\.0\.mlp\.down_proj\.lora_A\.weight" is not used: it is not the lora_A or lora_B of a module .*adapter_config\.json targets/);
    editJson(config, (j) => {
      j["exclude_modules"] = null;
      j["layers_to_transform"] = [1];
    });
    assert.throws(() => loadAdapters([dir], cfg), /tensor "base_model\.model\.model\.layers\.0\.mlp\.down_proj\.lora_A\.weight" is not used/);
    const one = path.join(t.dir, "one");
    writePeftLora({ cfg, rank: 2, alpha: 4, updates: updates.filter((u) => u.module === "model.layers.1.self_attn.q_proj"), dir: one });
    editJson(path.join(one, "adapter_config.json"), (j) => {
      j["target_modules"] = ["q_proj"];
      j["layers_to_transform"] = 1;
      j["layers_pattern"] = "layers";
    });
    assert.deepEqual(loadAdapters([one], cfg).lora.map((l) => l.module), ["model.layers.1.self_attn.q_proj"]);
    editJson(path.join(one, "adapter_config.json"), (j) => {
      j["layers_to_transform"] = [0];
    });
    assert.throws(() => loadAdapters([one], cfg), /tensor "base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight" is missing \(.*adapter_config\.json targets model\.layers\.0\.self_attn\.q_proj\)/);
  } finally {
    t.remove();
  }
});

test("rank_pattern gives one module its own rank", () => {
  const t = tempDir();
  try {
    const dir = path.join(t.dir, "peft");
    writePeftLora({ cfg, rank: 2, alpha: 4, updates: randomUpdates(cfg, { rank: 2, seed: 4, suffixes: ["q_proj"] }), dir });
    // Replace layer 1's q_proj update by a rank-3 one in the file.
    const r3 = path.join(t.dir, "r3");
    const [u1] = randomUpdates(cfg, { rank: 3, seed: 5, suffixes: ["q_proj"] }).slice(1);
    writePeftLora({ cfg, rank: 3, alpha: 4, updates: [u1!], dir: r3 });
    const base = loadAdapters([dir], cfg).lora[0]!;
    editJson(path.join(r3, "adapter_config.json"), (j) => {
      j["rank_pattern"] = { "model.layers.1.self_attn.q_proj": 3 };
      j["r"] = 2;
    });
    const layers = loadAdapters([r3], cfg).lora;
    assert.deepEqual(layers.map((l) => [l.module, l.rank, l.scale]), [["model.layers.1.self_attn.q_proj", 3, 4 / 3]]);
    assert.equal(base.rank, 2);
  } finally {
    t.remove();
  }
});

test("prefix: PEFT prompt_embeddings, PaddleNLP's embedding weights and pre_caches.npy give the same cache", () => {
  const t = tempDir();
  try {
    const prefix = randomPrefix(cfg, 3, 6);
    writePeftPrefix({ cfg, prefix, dir: path.join(t.dir, "peft") });
    writePaddlePrefix({ cfg, encoder: { kind: "embedding", prefix }, dir: path.join(t.dir, "both") });
    writePaddlePrefix({ cfg, encoder: { kind: "embedding", prefix }, preCaches: false, dir: path.join(t.dir, "weights") });
    writePaddlePrefix({ cfg, encoder: { kind: "embedding", prefix }, weights: false, dir: path.join(t.dir, "npy") });
    for (const d of ["peft", "both", "weights", "npy"]) {
      const a = loadAdapters([path.join(t.dir, d)], cfg);
      assert.deepEqual(a.prefix, prefix, d);
      assert.deepEqual(a.lora, []);
    }
    assert.deepEqual(loadAdapters([path.join(t.dir, "both")], cfg).sources, [
      { dir: path.join(t.dir, "both"), format: "paddle-prefix", files: ["prefix_config.json", "peft_model.safetensors", "pre_caches.npy"] },
    ]);
  } finally {
    t.remove();
  }
});

test("prefix with projection: the encoder is evaluated, and agrees with pre_caches.npy and with PEFT's saved output", () => {
  const t = tempDir();
  try {
    const kvDim = cfg.numKvHeads * cfg.headDim;
    const hidden = 24;
    const out = 2 * cfg.numLayers * kvDim;
    const weights = {
      embedding: uniform(4 * kvDim, 1, 8, 0),
      w1: uniform(kvDim * hidden, 1 / Math.sqrt(kvDim), 8, 1),
      b1: uniform(hidden, 0.1, 8, 2),
      w2: uniform(hidden * out, 1 / Math.sqrt(hidden), 8, 3),
      b2: uniform(out, 0.1, 8, 4),
      hidden,
    };
    const shape = { tokens: 4, layers: cfg.numLayers, kvHeads: cfg.numKvHeads, headDim: cfg.headDim };
    const expected = prefixFromPaddle(evaluatePaddleProjection(weights, shape), shape);
    writePaddlePrefix({ cfg, encoder: { kind: "projection", tokens: 4, weights }, dir: path.join(t.dir, "both") });
    writePaddlePrefix({ cfg, encoder: { kind: "projection", tokens: 4, weights }, preCaches: false, dir: path.join(t.dir, "weights") });
    writePaddlePrefix({ cfg, encoder: { kind: "projection", tokens: 4, weights }, weights: false, dir: path.join(t.dir, "npy") });
    writePeftPrefix({ cfg, prefix: expected, projection: true, dir: path.join(t.dir, "peft") });
    for (const d of ["both", "weights", "npy", "peft"]) assert.deepEqual(loadAdapters([path.join(t.dir, d)], cfg).prefix, expected, d);
  } finally {
    t.remove();
  }
});

test("Llama names its PaddleNLP layers llama.layers.N", () => {
  const t = tempDir();
  try {
    const llama = tinyConfig("LlamaForCausalLM");
    const dir = path.join(t.dir, "paddle");
    writePaddleLora({ cfg: llama, rank: 2, alpha: 2, updates: randomUpdates(llama, { rank: 2, seed: 9, suffixes: ["down_proj"] }), dir });
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, "lora_config.json"), "utf8")).target_modules, [".*down_proj.*"]);
    assert.equal(loadAdapters([dir], llama).lora.length, 2);
  } finally {
    t.remove();
  }
});
