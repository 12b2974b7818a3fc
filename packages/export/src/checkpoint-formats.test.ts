import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { formatGolden } from "@oar/make-tiny-model";
import { loadEagerModel, readDecoderConfig } from "@oar/modeling";
import { argmax } from "@oar/tensor";
import { expected } from "@oar/tensor/testing";
import { exportModel } from "./export.js";
import { DecoderBatch } from "./trace/testing/decoder-session.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-export-formats-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

const GOLDEN_NAMES = ["qwen2-pytorch", "llama-pytorch-sharded", "qwen2-pdparams", "llama-pdparams-sharded", "qwen2-paddle-safetensors"];

describe("exportModel reads every checkpoint format", () => {
  const originals = new Map<string, string>();
  /** The original's export, made once per original. */
  async function originalGraph(original: string): Promise<Buffer> {
    let out = originals.get(original);
    if (out === undefined) {
      out = path.join(root, `original-${originals.size}`);
      await exportModel({ modelDir: original, outputDir: out });
      originals.set(original, out);
    }
    return fs.readFileSync(path.join(out, "model.onnx"));
  }

  for (const name of GOLDEN_NAMES) {
    it(`${name}: the same graph and weights as from the safetensors original; the manifest records the format`, async () => {
      const { dir, original, golden } = formatGolden(name);
      const out = path.join(root, name);
      const report = await exportModel({ modelDir: dir, outputDir: out });
      assert.ok(fs.readFileSync(path.join(out, "model.onnx")).equals(await originalGraph(original)), "model.onnx is byte-identical");
      const source = report.manifest.source;
      assert.deepEqual(source.weight_format, { files: golden.format, naming: golden.naming });
      const weightFiles = golden.files.filter((f) => !f.endsWith(".json"));
      assert.deepEqual(source.weights.map((w) => w.file), weightFiles);
      for (const w of source.weights) assert.match(w.header_sha256, /^[0-9a-f]{64}$/);
      assert.equal(source.index_sha256 !== null, golden.files.some((f) => f.endsWith(".index.json")));
    });
  }

  it("the export of a .pdparams checkpoint gives the eager original's greedy tokens on onnxruntime", async () => {
    const { dir, original } = formatGolden("qwen2-pdparams");
    const out = path.join(root, "greedy");
    await exportModel({ modelDir: dir, outputDir: out });
    const cfg = readDecoderConfig(dir);
    const { prompt, tokens } = expected().transformers_greedy["qwen2-pytorch"]!;
    const batch = await DecoderBatch.open(path.join(out, "model.onnx"), { layers: cfg.numLayers, kvHeads: cfg.numKvHeads, headDim: cfg.headDim, type: "float32" }, cfg.vocabSize);
    const eager = await loadEagerModel(original, { threads: 1 });
    try {
      const [graph] = await batch.greedy([prompt], tokens.length);
      const seq = eager.createSequence();
      const want: number[] = [];
      let [logits] = await eager.forward([{ seq, tokens: prompt }]);
      for (let i = 0; i < tokens.length; i++) {
        want.push(argmax(logits!));
        if (i + 1 < tokens.length) [logits] = await eager.forward([{ seq, tokens: [want[i]!] }]);
      }
      assert.deepEqual(graph, want);
      assert.deepEqual(graph, tokens, "and transformers' tokens for these weights");
    } finally {
      await batch.release();
      await eager.dispose();
    }
  });
});
