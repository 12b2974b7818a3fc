import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { formatGolden } from "@oar/make-tiny-model";
import { argmax, openCheckpoint, writeSafetensors } from "@oar/tensor";
import { expected } from "@oar/tensor/testing";
import { readDecoderConfig } from "./architectures/index.js";
import { type EagerModel, loadEagerModel } from "./eager/model.js";
import { openModelWeights, storedParam } from "./weight-layout.js";
import { decoderParams } from "./weights.js";

let root: string;
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-weight-layout-"));
});
after(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

const GOLDEN_NAMES = ["qwen2-pytorch", "llama-pytorch-sharded", "qwen2-pdparams", "llama-pdparams-sharded", "qwen2-paddle-safetensors"];

describe("storedParam: where a Hugging Face parameter is in each layout", () => {
  const qwen2 = readDecoderConfig(formatGolden("qwen2-pdparams").original);
  const llama = readDecoderConfig(formatGolden("llama-pdparams-sharded").original);
  it("PaddleNLP: the architecture's prefix for the decoder's own parameters, linear weights [in, out]", () => {
    assert.deepEqual(storedParam("paddlenlp", qwen2, { name: "model.layers.0.self_attn.q_proj.weight", shape: [32, 32] }), { from: "qwen2.layers.0.self_attn.q_proj.weight", transpose: true });
    assert.deepEqual(storedParam("paddlenlp", qwen2, { name: "model.layers.0.self_attn.q_proj.bias", shape: [32] }), { from: "qwen2.layers.0.self_attn.q_proj.bias", transpose: false });
    assert.deepEqual(storedParam("paddlenlp", qwen2, { name: "model.embed_tokens.weight", shape: [256, 32] }), { from: "qwen2.embed_tokens.weight", transpose: false });
    assert.deepEqual(storedParam("paddlenlp", llama, { name: "lm_head.weight", shape: [256, 32] }), { from: "lm_head.weight", transpose: true });
    assert.deepEqual(storedParam("paddlenlp", llama, { name: "model.norm.weight", shape: [32] }), { from: "llama.norm.weight", transpose: false });
  });
  it("Hugging Face: as the model reads them", () => {
    assert.deepEqual(storedParam("huggingface", llama, { name: "model.layers.1.mlp.down_proj.weight", shape: [32, 64] }), { from: "model.layers.1.mlp.down_proj.weight", transpose: false });
  });
});

describe("openModelWeights shows every format in Hugging Face's layout", () => {
  for (const name of GOLDEN_NAMES) {
    it(`${name}: every parameter byte-identical to the safetensors original`, () => {
      const { dir, original, golden } = formatGolden(name);
      const cfg = readDecoderConfig(dir);
      const weights = openModelWeights(dir, cfg);
      const reference = openCheckpoint(original);
      try {
        assert.equal(weights.format, golden.format);
        assert.equal(weights.naming, golden.naming);
        for (const p of decoderParams(cfg)) {
          const want = reference.read(p.name);
          const got = weights.source.read(p.name);
          assert.equal(got.dtype, want.dtype, p.name);
          assert.deepEqual(got.shape, want.shape, p.name);
          assert.deepEqual(new Uint8Array(got.data.buffer), new Uint8Array(want.data.buffer), p.name);
        }
      } finally {
        weights.source.close();
        reference.close();
      }
    });
  }

  it("names a missing parameter by its PaddleNLP name", () => {
    const { dir } = formatGolden("qwen2-pdparams");
    const partial = fs.mkdtempSync(path.join(root, "partial-"));
    fs.copyFileSync(path.join(dir, "config.json"), path.join(partial, "config.json"));
    const e = { dtype: "f32" as const, shape: [1], data: new Float32Array(1) };
    writeSafetensors(path.join(partial, "model.safetensors"), { "qwen2.embed_tokens.weight": e });
    assert.throws(() => openModelWeights(partial, readDecoderConfig(partial)), /partial-\w+: tensor "qwen2\.layers\.0\.input_layernorm\.weight" is missing \(PaddleNLP's name for model\.layers\.0\.input_layernorm\.weight, needed by Qwen2ForCausalLM with this config\.json\)/);
  });

  it("refuses a checkpoint holding both Hugging Face and PaddleNLP names", () => {
    const { dir } = formatGolden("qwen2-pdparams");
    const mixed = fs.mkdtempSync(path.join(root, "mixed-"));
    fs.copyFileSync(path.join(dir, "config.json"), path.join(mixed, "config.json"));
    const e = { dtype: "f32" as const, shape: [1], data: new Float32Array(1) };
    writeSafetensors(path.join(mixed, "model.safetensors"), { "model.embed_tokens.weight": e, "qwen2.embed_tokens.weight": e });
    assert.throws(() => openModelWeights(mixed, readDecoderConfig(mixed)), /holds both "model\.embed_tokens\.weight" and "qwen2\.embed_tokens\.weight": Hugging Face and PaddleNLP names mixed in one checkpoint/);
  });
});

/** Greedy continuation of `prompt` by `n` tokens, and the logits of the prompt's last position. */
async function greedy(model: EagerModel, prompt: readonly number[], n: number): Promise<{ tokens: number[]; first: Float32Array }> {
  const seq = model.createSequence();
  const tokens: number[] = [];
  let [logits] = await model.forward([{ seq, tokens: prompt }]);
  const first = Float32Array.from(logits!);
  for (let i = 0; i < n; i++) {
    tokens.push(argmax(logits!));
    if (i + 1 < n) [logits] = await model.forward([{ seq, tokens: [tokens[i]!] }]);
  }
  model.releaseSequence(seq);
  return { tokens, first };
}

describe("loadEagerModel runs every format like its safetensors original", () => {
  const { prompt, tokens: transformersTokens } = expected().transformers_greedy["qwen2-pytorch"]!;
  for (const name of GOLDEN_NAMES) {
    it(`${name}: the same logits and greedy tokens`, async () => {
      const { dir, original } = formatGolden(name);
      const a = await loadEagerModel(original, { threads: 1 });
      const b = await loadEagerModel(dir, { threads: 1 });
      try {
        const want = await greedy(a, prompt, transformersTokens.length);
        const got = await greedy(b, prompt, transformersTokens.length);
        assert.deepEqual(got.first, want.first);
        assert.deepEqual(got.tokens, want.tokens);
        if (name === "qwen2-pytorch") assert.deepEqual(got.tokens, transformersTokens, "transformers' greedy tokens from the same .bin");
      } finally {
        await a.dispose();
        await b.dispose();
      }
    });
  }
});
