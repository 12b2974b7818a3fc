import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { openCheckpoint } from "@oar/tensor";
import { convertLlama2c, permuteRotary } from "./llama2c.js";

/** ../shared/fixtures beside the repository; tests that need it skip without it. */
const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../shared/fixtures/stories260K/stories260K.bin");
const skipFixture = fs.existsSync(FIXTURE) ? false : `fixture not found: ${FIXTURE} (../shared/fixtures is absent)`;

let root: string;
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-llama2c-"));
});
after(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe("permuteRotary", () => {
  it("moves adjacent RoPE pairs to rotate-half order within each head", () => {
    // 2 heads of head_dim 4, one column: row r holds r. llama2.c pairs (0,1),(2,3); HF pairs (0,2),(1,3).
    const w = new Float32Array([0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual([...permuteRotary(w, 2, 4, 1)], [0, 2, 1, 3, 4, 6, 5, 7]);
    // Whole rows move: 1 head of head_dim 4, two columns.
    const w2 = new Float32Array([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5]);
    assert.deepEqual([...permuteRotary(w2, 1, 4, 2)], [0, 0.5, 2, 2.5, 1, 1.5, 3, 3.5]);
    assert.throws(() => permuteRotary(w, 2, 4, 2), /8 values are not 2x4x2/);
  });
});

describe("convertLlama2c (stories260K)", { skip: skipFixture }, () => {
  const raw = (): Float32Array => {
    const b = fs.readFileSync(FIXTURE);
    return new Float32Array(b.buffer.slice(b.byteOffset + 28, b.byteOffset + b.length));
  };

  it("writes a tied Llama checkpoint with the header's shapes", () => {
    const dir = path.join(root, "stories");
    convertLlama2c(FIXTURE, dir);
    assert.deepEqual(fs.readdirSync(dir).sort(), ["config.json", "generation_config.json", "model.safetensors"]);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    for (const [k, v] of Object.entries({
      model_type: "llama",
      hidden_size: 64,
      intermediate_size: 172,
      num_hidden_layers: 5,
      num_attention_heads: 8,
      num_key_value_heads: 4,
      head_dim: 8,
      vocab_size: 512,
      max_position_embeddings: 512,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      tie_word_embeddings: true,
      bos_token_id: 1,
      eos_token_id: 2,
      torch_dtype: "float32",
    })) {
      assert.equal(cfg[k], v, k);
    }
    assert.deepEqual(cfg["architectures"], ["LlamaForCausalLM"]);
    const gen = JSON.parse(fs.readFileSync(path.join(dir, "generation_config.json"), "utf8")) as Record<string, unknown>;
    assert.equal(gen["eos_token_id"], 2);
    const src = openCheckpoint(dir);
    try {
      assert.equal(src.names.length, 2 + 5 * 9);
      assert.equal(src.has("lm_head.weight"), false);
      assert.deepEqual(src.info("model.embed_tokens.weight").shape, [512, 64]);
      assert.deepEqual(src.info("model.layers.4.self_attn.k_proj.weight").shape, [32, 64]);
      assert.deepEqual(src.info("model.layers.0.mlp.down_proj.weight").shape, [64, 172]);
    } finally {
      src.close();
    }
  });

  it("copies the arrays, permuting q and k rows per head", () => {
    const f = raw();
    const src = openCheckpoint(path.join(root, "stories"));
    try {
      const dim = 64;
      const embed = src.read("model.embed_tokens.weight").data as Float32Array;
      assert.deepEqual(embed, f.subarray(0, 512 * dim));
      const rmsAtt = 512 * dim;
      assert.deepEqual(src.read("model.layers.1.input_layernorm.weight").data, f.subarray(rmsAtt + dim, rmsAtt + 2 * dim));
      const wq = rmsAtt + 5 * dim;
      const q1 = src.read("model.layers.1.self_attn.q_proj.weight").data as Float32Array;
      const rawQ1 = f.subarray(wq + dim * dim, wq + 2 * dim * dim);
      // head 3, HF row 3*8 + 0*4 + 1 (first half, pair 1) is llama2.c row 3*8 + 2*1 + 0; its partner HF row 3*8 + 4 + 1 is llama2.c row 3*8 + 3.
      assert.deepEqual(q1.subarray(25 * dim, 26 * dim), rawQ1.subarray(26 * dim, 27 * dim));
      assert.deepEqual(q1.subarray(29 * dim, 30 * dim), rawQ1.subarray(27 * dim, 28 * dim));
      const wk = wq + 5 * dim * dim;
      const k0 = src.read("model.layers.0.self_attn.k_proj.weight").data as Float32Array;
      assert.deepEqual(k0, permuteRotary(f.subarray(wk, wk + 32 * dim), 4, 8, dim));
      const wv = wk + 5 * 32 * dim;
      assert.deepEqual(src.read("model.layers.0.self_attn.v_proj.weight").data, f.subarray(wv, wv + 32 * dim));
      const norm = f.length - 2 * 512 * 4 - dim;
      assert.deepEqual(src.read("model.norm.weight").data, f.subarray(norm, norm + dim));
    } finally {
      src.close();
    }
  });

  it("rejects a truncated file before writing anything", () => {
    const cut = path.join(root, "cut.bin");
    fs.writeFileSync(cut, fs.readFileSync(FIXTURE).subarray(0, 100_000));
    const out = path.join(root, "cut-out");
    assert.throws(
      () => convertLlama2c(cut, out),
      /cut\.bin: header \[dim 64, hidden_dim 172, n_layers 5, n_heads 8, n_kv_heads 4, vocab_size 512, seq_len 512\] describes a 1056540-byte file, but it has 100000 bytes/,
    );
    assert.equal(fs.existsSync(out), false);
  });
});

describe("convertLlama2c errors", () => {
  it("names the file for a missing, tiny, versioned or inconsistent input", () => {
    assert.throws(() => convertLlama2c(path.join(root, "none.bin"), path.join(root, "o1")), /none\.bin: cannot open/);
    const tiny = path.join(root, "tiny.bin");
    fs.writeFileSync(tiny, Buffer.alloc(10));
    assert.throws(() => convertLlama2c(tiny, path.join(root, "o2")), /tiny\.bin: 10 bytes, shorter than the 28-byte llama2\.c header/);
    const v1 = path.join(root, "v1.bin");
    const head = Buffer.alloc(256);
    head.writeUInt32LE(0x616b3432, 0);
    fs.writeFileSync(v1, head);
    assert.throws(() => convertLlama2c(v1, path.join(root, "o3")), /v1\.bin: a versioned llama2\.c export \(magic "ak42"\)/);
    const bad = path.join(root, "bad.bin");
    const h = Buffer.alloc(28);
    [64, 172, 5, 6, 4, 512, 512].forEach((v, i) => h.writeInt32LE(v, 4 * i));
    fs.writeFileSync(bad, h);
    assert.throws(() => convertLlama2c(bad, path.join(root, "o4")), /bad\.bin: header dim 64 is not n_heads 6 times an even head size/);
    [64, 172, 0, 8, 4, 512, 512].forEach((v, i) => h.writeInt32LE(v, 4 * i));
    fs.writeFileSync(bad, h);
    assert.throws(() => convertLlama2c(bad, path.join(root, "o5")), /bad\.bin: header n_layers is 0; expected a positive number/);
  });
});
