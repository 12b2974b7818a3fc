import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { cachedTinyModel, stories260K } from "@oar/make-tiny-model";
import { type PrefixCache, loadAdapters, loadEagerModel, mergeLora, parseDecoderConfig, readDecoderConfig, writePeftLora, writePeftPrefix } from "@oar/modeling";
import { argmax, maxRelativeError, openSafetensors } from "@oar/tensor";
import { type ExportOptions, exportModel } from "./export.js";
import { OAR_INFERENCE_FILE, type OarInference } from "./inference-dir/manifest.js";
import { readModel } from "./onnx/read.js";
import { verify } from "./ir/verify.js";
import { DecoderBatch, type PrefixPast } from "./trace/testing/decoder-session.js";
import { MICRO_CONFIG, writeMicroModel } from "./trace/testing/micro-model.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-export-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (what: string) => path.join(root, `${what}${n++}`);
const config = parseDecoderConfig(MICRO_CONFIG);

const model = fresh("micro");
writeMicroModel(model);

function readManifest(dir: string): OarInference {
  return JSON.parse(fs.readFileSync(path.join(dir, OAR_INFERENCE_FILE), "utf8")) as OarInference;
}

/** Every entry of a directory, recursively, with its bytes: to show nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const p = path.join(e.parentPath, e.name);
    out[path.relative(dir, p)] = e.isFile() ? fs.readFileSync(p).toString("base64") : "dir";
  }
  return out;
}

/** Leftover staging directories beside `output`. */
function leftovers(output: string): string[] {
  const parent = path.dirname(output);
  return fs.existsSync(parent) ? fs.readdirSync(parent).filter((f) => f.startsWith(`.${path.basename(output)}.oar-`)) : [];
}

function openBatch(dir: string): Promise<DecoderBatch> {
  return DecoderBatch.open(path.join(dir, "model.onnx"), { layers: config.numLayers, kvHeads: config.numKvHeads, headDim: config.headDim, type: "float32" }, config.vocabSize);
}

const prompts = [[1, 5, 9, 13], [1, 40, 41, 42, 43, 44, 60]];

describe("exportModel: the inference directory", () => {
  it("holds the graph, the source's files and oar_inference.json describing them", async () => {
    const out = fresh("out");
    const messages: string[] = [];
    const report = await exportModel({ modelDir: model, outputDir: out, srcLength: 64, maxLength: 32, onProgress: (m) => messages.push(m) });
    assert.deepEqual(fs.readdirSync(out).sort(), [
      "config.json",
      "generation_config.json",
      "model.onnx",
      OAR_INFERENCE_FILE,
      "special_tokens_map.json",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    assert.deepEqual(leftovers(out), []);
    assert.ok(messages.some((m) => m.startsWith("traced LlamaForCausalLM")), messages.join("\n"));
    const m = readManifest(out);
    assert.deepEqual(m, report.manifest);
    assert.equal(m.format, "oar-inference");
    assert.equal(m.format_version, 1);
    assert.equal(m.exporter.name, "@oar/export");
    assert.equal(m.dtype, "float32");
    assert.equal(m.quant_type, null);
    assert.equal(m.inference_model, false);
    assert.equal(m.model.architecture, "LlamaForCausalLM");
    assert.equal(m.model.num_kv_heads, 2);
    assert.deepEqual(m.model.eos_token_ids, [2]);
    assert.equal(m.passes[0]!.pipeline, "cleanup");
    assert.ok(m.passes[0]!.passes.some((p) => p.pass === "common-subexpression-elimination" && p.fired > 0));
    assert.equal(m.graph.file, "model.onnx");
    assert.equal(m.graph.external_data, null);
    assert.deepEqual(m.graph.opsets, { "ai.onnx": 17 });
    assert.deepEqual(
      m.graph.inputs.map((i) => [i.name, i.dtype, i.shape]),
      [
        ["input_ids", "int64", ["batch_size", "sequence_length"]],
        ["attention_mask", "int64", ["batch_size", "total_sequence_length"]],
        ["position_ids", "int64", ["batch_size", "sequence_length"]],
        ["past_key_values.0.key", "float32", ["batch_size", 2, "past_sequence_length", 8]],
        ["past_key_values.0.value", "float32", ["batch_size", 2, "past_sequence_length", 8]],
        ["past_key_values.1.key", "float32", ["batch_size", 2, "past_sequence_length", 8]],
        ["past_key_values.1.value", "float32", ["batch_size", 2, "past_sequence_length", 8]],
        ["num_logits_to_keep", "int64", []],
      ],
    );
    assert.deepEqual(
      m.graph.outputs.map((o) => [o.name, o.dtype, o.shape]),
      [
        ["logits", "float32", ["batch_size", "logits_kept", 64]],
        ["present.0.key", "float32", ["batch_size", 2, "total_sequence_length", 8]],
        ["present.0.value", "float32", ["batch_size", 2, "total_sequence_length", 8]],
        ["new_key_values.0.key", "float32", ["batch_size", 2, "sequence_length", 8]],
        ["new_key_values.0.value", "float32", ["batch_size", 2, "sequence_length", 8]],
        ["present.1.key", "float32", ["batch_size", 2, "total_sequence_length", 8]],
        ["present.1.value", "float32", ["batch_size", 2, "total_sequence_length", 8]],
        ["new_key_values.1.key", "float32", ["batch_size", 2, "sequence_length", 8]],
        ["new_key_values.1.value", "float32", ["batch_size", 2, "sequence_length", 8]],
      ],
    );
    assert.equal(m.graph.op_counts["Softmax"], 2);
    assert.deepEqual(m.graph.metadata, {});
    assert.deepEqual(m.kv_cache, {
      num_layers: 2,
      num_kv_heads: 2,
      head_dim: 8,
      dtype: "float32",
      io: "present+new",
      layout: ["batch_size", "num_kv_heads", "sequence", "head_dim"],
      past_key: "past_key_values.{layer}.key",
      past_value: "past_key_values.{layer}.value",
      present_key: "present.{layer}.key",
      present_value: "present.{layer}.value",
      new_key: "new_key_values.{layer}.key",
      new_value: "new_key_values.{layer}.value",
      block_tables: null,
      key_cache: null,
      value_cache: null,
    });
    assert.equal(m.feeds.padding_side, "left");
    assert.deepEqual(m.feeds.num_logits_to_keep, { name: "num_logits_to_keep", dtype: "int64", shape: [], zero_keeps_all: true });
    assert.equal(m.max_positions, 128);
    assert.equal(m.src_length, 64);
    assert.equal(m.max_length, 32);
    assert.deepEqual(m.block_attention, { enabled: false, block_size: null });
    assert.deepEqual(m.adapters, { lora: [], prefix: null });
    const sha = (f: string) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");
    assert.equal(m.source.config_sha256, sha(path.join(model, "config.json")));
    const weights = fs.readFileSync(path.join(model, "model.safetensors"));
    const headerEnd = 8 + Number(weights.readBigUInt64LE(0));
    assert.deepEqual(m.source.weights, [
      { file: "model.safetensors", bytes: weights.length, header_sha256: crypto.createHash("sha256").update(weights.subarray(0, headerEnd)).digest("hex") },
    ]);
    assert.deepEqual(m.files, { model: ["config.json", "generation_config.json"], tokenizer: ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] });
    assert.deepEqual(verify(readModel(path.join(out, "model.onnx"))), []);
    const batch = await openBatch(out);
    try {
      const logits = await batch.prefill(prompts, 1);
      assert.ok(logits.every((l) => l.length === config.vocabSize && l.every(Number.isFinite)));
    } finally {
      await batch.release();
    }
  });

  it("writes the weights to model.onnx.data above the external-data threshold; onnxruntime gives the same logits", async () => {
    const inline = fresh("out");
    const external = fresh("out");
    await exportModel({ modelDir: model, outputDir: inline });
    const report = await exportModel({ modelDir: model, outputDir: external, externalDataBytes: 1000 });
    assert.equal(report.manifest.graph.external_data, "model.onnx.data");
    assert.ok(fs.statSync(path.join(external, "model.onnx.data")).size > fs.statSync(path.join(external, "model.onnx")).size);
    const [a, b] = [await openBatch(inline), await openBatch(external)];
    try {
      const [x, y] = [await a.prefill(prompts, 2), await b.prefill(prompts, 2)];
      assert.deepEqual(x, y);
    } finally {
      await a.release();
      await b.release();
    }
  });

  it("records dtype float16 and the f16 KV of a float16 export, and block attention settings", async () => {
    const out = fresh("out");
    const { manifest } = await exportModel({ modelDir: model, outputDir: out, dtype: "float16", blockAttn: true });
    assert.equal(manifest.dtype, "float16");
    assert.equal(manifest.kv_cache.dtype, "float16");
    assert.equal(manifest.graph.outputs[0]!.dtype, "float32");
    assert.deepEqual(manifest.block_attention, { enabled: true, block_size: 64 });
    assert.equal(manifest.kv_cache.io, "blocks");
    assert.deepEqual(
      manifest.graph.inputs.filter((i) => i.name.startsWith("block") || i.name.startsWith("key_cache")).map((i) => [i.name, i.dtype, i.shape]),
      [
        ["block_tables", "int64", ["batch_size", "max_blocks"]],
        ["key_cache.0", "float16", ["num_blocks", 2, 64, 8]],
        ["key_cache.1", "float16", ["num_blocks", 2, 64, 8]],
      ],
    );
    assert.deepEqual(
      manifest.graph.outputs.map((o) => o.name),
      ["logits", "new_key_values.0.key", "new_key_values.0.value", "new_key_values.1.key", "new_key_values.1.value"],
    );
    assert.equal(manifest.kv_cache.past_key, null);
    assert.equal(manifest.kv_cache.key_cache, "key_cache.{layer}");
  });
});

describe("exportModel: the output directory", () => {
  it("refuses a non-empty directory without overwrite and touches nothing", async () => {
    const out = fresh("out");
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, "notes.txt"), "mine");
    const before = snapshot(path.dirname(out));
    await assert.rejects(exportModel({ modelDir: model, outputDir: out }), /is not empty; pass overwrite \(--overwrite\) to replace it/);
    assert.deepEqual(snapshot(path.dirname(out)), before);
  });

  it("exports into an existing empty directory", async () => {
    const out = fresh("out");
    fs.mkdirSync(out);
    await exportModel({ modelDir: model, outputDir: out });
    assert.ok(fs.existsSync(path.join(out, "model.onnx")));
  });

  it("with overwrite, replaces the directory once the new one is complete", async () => {
    const out = fresh("out");
    await exportModel({ modelDir: model, outputDir: out });
    fs.writeFileSync(path.join(out, "stale.txt"), "from before");
    const seen: boolean[] = [];
    await exportModel({
      modelDir: model,
      outputDir: out,
      overwrite: true,
      dtype: "float16",
      onProgress: () => seen.push(fs.existsSync(path.join(out, "stale.txt"))),
    });
    assert.ok(seen.length > 0 && seen.every((s) => s), "the old directory stays whole until the new one is complete");
    assert.ok(!fs.existsSync(path.join(out, "stale.txt")));
    assert.equal(readManifest(out).dtype, "float16");
    assert.deepEqual(leftovers(out), []);
  });

  for (const existing of [false, true]) {
    it(`a failure mid-export leaves ${existing ? "the old directory as it was" : "no output directory"} and no temporary directory`, async () => {
      const out = fresh("out");
      if (existing) await exportModel({ modelDir: model, outputDir: out });
      const before = existing ? snapshot(out) : null;
      const options: ExportOptions = {
        modelDir: model,
        outputDir: out,
        overwrite: true,
        onProgress: (m) => {
          if (m.startsWith("wrote model.onnx")) throw new Error("disk full (simulated)");
        },
      };
      await assert.rejects(exportModel(options), /disk full \(simulated\)/);
      assert.deepEqual(leftovers(out), []);
      if (before === null) assert.ok(!fs.existsSync(out));
      else assert.deepEqual(snapshot(out), before);
    });
  }

  it("refuses an output directory that holds the model it reads", async () => {
    await assert.rejects(exportModel({ modelDir: model, outputDir: path.dirname(model), overwrite: true }), /the output directory would hold .*, which the export reads/);
  });

  it("fails clearly, before writing anything, on options it cannot honour", async () => {
    const out = fresh("out");
    await assert.rejects(exportModel({ modelDir: model, outputDir: out, dtype: "float64" as never }), /dtype \(--dtype\) must be float32, float16 or bfloat16, got "float64"/);
    await assert.rejects(exportModel({ modelDir: model, outputDir: out, blockSize: 16 }), /blockSize \(--block_size\) is given without blockAttn/);
    await assert.rejects(exportModel({ modelDir: model, outputDir: out, srcLength: 0 }), /srcLength \(--src_length\) must be a positive integer, got 0/);
    await assert.rejects(exportModel({ modelDir: path.join(root, "nothing-here"), outputDir: out }), /config\.json: cannot be read/);
    assert.ok(!fs.existsSync(out));
    assert.deepEqual(leftovers(out), []);
  });
});

describe("exportModel: adapters", () => {
  const loraDir = fresh("lora");
  const rank = 2;
  const random = (length: number, seed: number) => Float32Array.from({ length }, (_, i) => Math.sin(seed * 1000 + i * 7.1) * 0.3);
  writePeftLora({
    dir: loraDir,
    cfg: config,
    rank,
    alpha: 4,
    updates: [
      { module: "model.layers.0.self_attn.q_proj", a: random(rank * 32, 1), b: random(32 * rank, 2) },
      { module: "model.layers.1.mlp.down_proj", a: random(rank * 48, 3), b: random(32 * rank, 4) },
    ],
  });
  const prefixDir = fresh("prefix");
  const kvDim = config.numKvHeads * config.headDim;
  const prefix: PrefixCache = {
    length: 3,
    keys: [random(3 * kvDim, 5), random(3 * kvDim, 6)],
    values: [random(3 * kvDim, 7), random(3 * kvDim, 8)],
  };
  writePeftPrefix({ dir: prefixDir, cfg: config, prefix });

  it("merges LoRA into the exported weights: the graph gives the eager model's logits with the same LoRA merged, and records the adapter", async () => {
    const out = fresh("out");
    const { manifest } = await exportModel({ modelDir: model, outputDir: out, loraPaths: [loraDir] });
    assert.equal(manifest.adapters.lora.length, 1);
    const record = manifest.adapters.lora[0]!;
    assert.equal(record.format, "peft-lora");
    assert.deepEqual(
      record.files.map((f) => f.file),
      ["adapter_config.json", "adapter_model.safetensors"],
    );
    const sha = crypto.createHash("sha256").update(fs.readFileSync(path.join(loraDir, "adapter_model.safetensors"))).digest("hex");
    assert.equal(record.files[1]!.sha256, sha);
    const eager = await loadEagerModel(model, { edit: mergeLora(loadAdapters([loraDir], config).lora), threads: 1 });
    const plain = await loadEagerModel(model, { threads: 1 });
    const batch = await openBatch(out);
    try {
      const got = await batch.prefill(prompts, 2);
      for (const [b, p] of prompts.entries()) {
        const [want] = await eager.forward([{ seq: eager.createSequence(), tokens: p, logits: 2 }]);
        const [without] = await plain.forward([{ seq: plain.createSequence(), tokens: p, logits: 2 }]);
        assert.ok(maxRelativeError(got[b]!, want!) < 1e-4, `prompt ${b}: ${maxRelativeError(got[b]!, want!)}`);
        assert.ok(maxRelativeError(got[b]!, without!) > 1e-3, "the LoRA changes the logits");
      }
    } finally {
      await batch.release();
      await eager.dispose();
      await plain.dispose();
    }
  });

  it("writes a prefix beside the graph; fed as past it gives the eager model's logits with that prefix", async () => {
    const out = fresh("out");
    const { manifest } = await exportModel({ modelDir: model, outputDir: out, prefixPath: prefixDir });
    const record = manifest.adapters.prefix!;
    assert.equal(record.format, "peft-prefix");
    assert.equal(record.kv_file, "prefix_kv.safetensors");
    assert.equal(record.length, 3);
    assert.equal(record.position_offset, 3);
    const file = openSafetensors(path.join(out, "prefix_kv.safetensors"));
    try {
      assert.deepEqual(file.info("past_key_values.1.value").shape, [config.numKvHeads, 3, config.headDim]);
      const past: PrefixPast = { length: 3, kv: (name) => file.read(name).data as Float32Array };
      const eager = await loadEagerModel(model, { prefix: loadAdapters([prefixDir], config).prefix!, threads: 1 });
      const batch = await openBatch(out);
      try {
        const got = await batch.prefill(prompts, 2, past);
        const next = await batch.step([[7], [8]], 1);
        for (const [b, p] of prompts.entries()) {
          const seq = eager.createSequence();
          const [want] = await eager.forward([{ seq, tokens: p, logits: 2 }]);
          assert.ok(maxRelativeError(got[b]!, want!) < 1e-4, `prompt ${b}: ${maxRelativeError(got[b]!, want!)}`);
          const [wantNext] = await eager.forward([{ seq, tokens: [7 + b], logits: 1 }]);
          assert.ok(maxRelativeError(next[b]!, wantNext!) < 1e-4, `decode after prompt ${b}`);
        }
      } finally {
        await batch.release();
        await eager.dispose();
      }
    } finally {
      file.close();
    }
  });

  it("refuses a prefix adapter given as LoRA and a LoRA adapter given as the prefix", async () => {
    await assert.rejects(exportModel({ modelDir: model, outputDir: fresh("out"), loraPaths: [prefixDir] }), /holds a prefix-tuning adapter; pass it as the prefix path/);
    await assert.rejects(exportModel({ modelDir: model, outputDir: fresh("out"), prefixPath: loraDir }), /holds a LoRA adapter; pass it as a LoRA path/);
  });
});

const stories = stories260K();
const fusedCases = [
  {
    name: "tiny Qwen2",
    dir: () => cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32" }),
    prompts: [[9707, 11, 1879, 0, 576], [100004, 105546, 9370, 99346, 100132, 17714, 46944, 13876, 38835]],
    skip: false as const,
  },
  {
    name: "stories260K",
    dir: () => ("missing" in stories ? "" : stories.dir),
    prompts: [[1, 403, 407, 261], [1, 379, 260, 284, 270, 262, 290, 296, 319]],
    skip: "missing" in stories ? stories.missing : (false as const),
  },
];

describe("exportModel: inferenceModel (the fusion passes)", () => {
  for (const c of fusedCases) {
    it(`${c.name}: the fused graph agrees with the eager model and gives its greedy tokens; oar_inference.json records the pipelines`, { skip: c.skip }, async () => {
      const dir = c.dir();
      const out = fresh("fused");
      const report = await exportModel({ modelDir: dir, outputDir: out, inferenceModel: true });
      const m = report.manifest;
      assert.equal(m.inference_model, true);
      assert.deepEqual(m.graph.opsets, { "ai.onnx": 17, "com.microsoft": 1 });
      assert.deepEqual(
        m.passes.map((p) => p.pipeline),
        ["cleanup", "fusion-norms", "fusion-rotary", "fusion-attention", "fusion-projections", "cleanup"],
      );
      const fired = (pass: string) => m.passes.flatMap((p) => p.passes).filter((p) => p.pass === pass).reduce((a, p) => a + p.fired, 0);
      // exportModel writes attention in the grouped form (trace/grouped-attention.ts), faster than GroupQueryAttention on CPU.
      assert.equal(fired("group-query-attention"), 0);
      assert.equal(m.graph.op_counts["GroupQueryAttention"] ?? 0, 0);
      assert.equal(m.graph.op_counts["Softmax"], readDecoderConfig(dir).numLayers, "one primitive attention per layer");
      assert.equal(m.graph.op_counts["SimplifiedLayerNormalization"], 1, "the first norm; the others take the residual Add");
      const cfg = readDecoderConfig(dir);
      const kv = { layers: cfg.numLayers, kvHeads: cfg.numKvHeads, headDim: cfg.headDim, type: "float32" as const };
      const eager = await loadEagerModel(dir, { storage: { format: "f32" }, threads: 1 });
      const batch = await DecoderBatch.open(path.join(out, "model.onnx"), kv, cfg.vocabSize);
      try {
        const seqs = c.prompts.map(() => eager.createSequence());
        const got = await batch.prefill(c.prompts, 2);
        const next = await batch.step([[5], [6]], 1);
        for (const [b, p] of c.prompts.entries()) {
          const [want] = await eager.forward([{ seq: seqs[b]!, tokens: p, logits: 2 }]);
          assert.ok(maxRelativeError(got[b]!, want!) < 1e-4, `prefill of prompt ${b}: ${maxRelativeError(got[b]!, want!)}`);
          const [wantNext] = await eager.forward([{ seq: seqs[b]!, tokens: [5 + b], logits: 1 }]);
          assert.ok(maxRelativeError(next[b]!, wantNext!) < 1e-4, `decode step of prompt ${b}: ${maxRelativeError(next[b]!, wantNext!)}`);
        }
        if (!("missing" in stories) && dir === stories.dir) {
          assert.deepEqual(await batch.greedy([stories.promptIds], stories.greedyNewIds.length), [stories.greedyNewIds]);
        } else {
          const n = 12;
          const graph = await batch.greedy(c.prompts, n);
          for (const [b, p] of c.prompts.entries()) {
            const seq = eager.createSequence();
            const want: number[] = [];
            let [logits] = await eager.forward([{ seq, tokens: p }]);
            for (let i = 0; i < n; i++) {
              want.push(argmax(logits!, 0, cfg.vocabSize));
              if (i + 1 < n) [logits] = await eager.forward([{ seq, tokens: [want[i]!] }]);
            }
            assert.deepEqual(graph[b], want, `greedy tokens of prompt ${b}`);
          }
        }
      } finally {
        await batch.release();
        await eager.dispose();
      }
    });
  }
});

describe("exportModel: attention written as other exporters do (repeat-kv)", () => {
  it("fuses into com.microsoft GroupQueryAttention, one per layer with no Softmax left, and agrees with the eager model", async () => {
    const dir = cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32" });
    const cfg = readDecoderConfig(dir);
    const out = fresh("gqa");
    const { manifest: m } = await exportModel({ modelDir: dir, outputDir: out, inferenceModel: true, attention: "repeat-kv" });
    assert.equal(m.graph.op_counts["GroupQueryAttention"], cfg.numLayers);
    assert.equal(m.graph.op_counts["Softmax"] ?? 0, 0);
    const eager = await loadEagerModel(dir, { storage: { format: "f32" }, threads: 1 });
    const kv = { layers: cfg.numLayers, kvHeads: cfg.numKvHeads, headDim: cfg.headDim, type: "float32" as const };
    const batch = await DecoderBatch.open(path.join(out, "model.onnx"), kv, cfg.vocabSize);
    try {
      const prompts = [[9707, 11, 1879], [100004, 105546, 9370, 99346, 100132]];
      const seqs = prompts.map(() => eager.createSequence());
      const got = await batch.prefill(prompts, 1);
      const next = await batch.step([[5], [6]], 1);
      for (const [b, p] of prompts.entries()) {
        const [want] = await eager.forward([{ seq: seqs[b]!, tokens: p }]);
        assert.ok(maxRelativeError(got[b]!, want!) < 1e-4, `prefill of prompt ${b}: ${maxRelativeError(got[b]!, want!)}`);
        const [wantNext] = await eager.forward([{ seq: seqs[b]!, tokens: [5 + b] }]);
        assert.ok(maxRelativeError(next[b]!, wantNext!) < 1e-4, `decode step of prompt ${b}: ${maxRelativeError(next[b]!, wantNext!)}`);
      }
    } finally {
      await batch.release();
      await eager.dispose();
    }
  });
});

describe("exportModel: quantType (the quantization passes)", () => {
  it("weight_only_int8 after fusion (tiny Qwen2): MatMulNBits and GatherBlockQuantized, recorded in oar_inference.json, logits near the eager model's", async (t) => {
    const dir = cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32" });
    const out = fresh("int8");
    const { manifest: m } = await exportModel({ modelDir: dir, outputDir: out, inferenceModel: true, quantType: "weight_only_int8" });
    assert.equal(m.quant_type, "weight_only_int8");
    assert.deepEqual(m.quantization, { block_size: 32, symmetric: true, accuracy_level: 4, quantized_matmuls: 9, quantized_embeddings: 1 });
    assert.equal(m.graph.op_counts["MatMulNBits"], 9, "per layer the merged QKV, o_proj, merged gate/up and down_proj; and lm_head");
    assert.equal(m.graph.op_counts["MatMul"] ?? 0, 4 * 2, "only attention's four MatMuls of activations per layer: no MatMul of a weight is left");
    assert.equal(m.passes.at(-1)!.pipeline, "quantize-weight-only-int8");
    const cfg = readDecoderConfig(dir);
    const eager = await loadEagerModel(dir, { threads: 1 });
    const batch = await DecoderBatch.open(path.join(out, "model.onnx"), { layers: cfg.numLayers, kvHeads: cfg.numKvHeads, headDim: cfg.headDim, type: "float32" }, cfg.vocabSize);
    try {
      const prompts = fusedCases[0]!.prompts;
      const got = await batch.prefill(prompts, 1);
      for (const [b, p] of prompts.entries()) {
        const [want] = await eager.forward([{ seq: eager.createSequence(), tokens: p }]);
        const err = maxRelativeError(got[b]!, want!);
        t.diagnostic(`prompt ${b}: int8 logits ${err.toExponential(2)} from f32 (relative to the largest)`);
        assert.ok(err < 5e-2, `prompt ${b}: ${err}`);
      }
    } finally {
      await batch.release();
      await eager.dispose();
    }
  });

  it("records the quantization the graph has: int4 with zero points and blocks of 16, a8w8 per column", async () => {
    const asym = await exportModel({ modelDir: model, outputDir: fresh("int4"), inferenceModel: true, quantType: "weight_only_int4", quantization: { blockSize: 16, symmetric: false } });
    assert.deepEqual(asym.manifest.quantization, { block_size: 16, symmetric: false, accuracy_level: 4, quantized_matmuls: 9, quantized_embeddings: 0 });
    const a8w8 = await exportModel({ modelDir: model, outputDir: fresh("a8w8"), quantType: "a8w8" });
    assert.deepEqual(a8w8.manifest.quantization, { block_size: null, symmetric: true, accuracy_level: null, quantized_matmuls: 15, quantized_embeddings: 0 });
    assert.equal(a8w8.manifest.graph.op_counts["DynamicQuantizeMatMul"], 15);
  });

  it("refuses quantization options without quantType, and a bad block size, before writing anything", async () => {
    const out = fresh("out");
    await assert.rejects(exportModel({ modelDir: model, outputDir: out, quantization: { blockSize: 64 } }), /quantization options are given without quantType/);
    await assert.rejects(exportModel({ modelDir: model, outputDir: out, quantType: "weight_only_int4", quantization: { blockSize: 24 } }), /24/);
    assert.ok(!fs.existsSync(out));
  });
});
