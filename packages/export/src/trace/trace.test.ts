import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { cachedTinyModel, stories260K } from "@oar/make-tiny-model";
import { type DecoderConfig, type EagerModel, loadEagerModel, readDecoderConfig } from "@oar/modeling";
import { argmax, maxRelativeError, openCheckpoint } from "@oar/tensor";
import type { Graph } from "../ir/graph.js";
import { verify } from "../ir/verify.js";
import { readModel } from "../onnx/read.js";
import { writeModel } from "../onnx/write.js";
import { cleanupPipeline } from "../passes/cleanup.js";
import { runPipeline } from "../rewrite/manager.js";
import type { GraphDType } from "./io.js";
import { DecoderBatch } from "./testing/decoder-session.js";
import { writeMicroModel } from "./testing/micro-model.js";
import { traceDecoder } from "./trace.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-trace-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let runs = 0;

const stories = stories260K();
const skipStories = "missing" in stories ? stories.missing : false;

interface Traced {
  readonly config: DecoderConfig;
  readonly graph: Graph;
  readonly modelPath: string;
}

/** Traces the checkpoint at `dir`, cleans the graph up (verifying after every pass) and writes it. */
function traceAndWrite(dir: string, dtype: GraphDType = "f32"): Traced {
  const config = readDecoderConfig(dir);
  const checkpoint = openCheckpoint(dir);
  try {
    const graph = traceDecoder({ config, checkpoint, where: dir, dtype });
    runPipeline(graph, cleanupPipeline(), { verify: true });
    assert.deepEqual(verify(graph), []);
    const { modelPath } = writeModel(graph, path.join(root, `m${runs++}`));
    return { config, graph, modelPath };
  } finally {
    checkpoint.close();
  }
}

function openBatch(t: Traced, type: "float32" | "float16" = "float32"): Promise<DecoderBatch> {
  const { numLayers, numKvHeads, headDim, vocabSize } = t.config;
  return DecoderBatch.open(t.modelPath, { layers: numLayers, kvHeads: numKvHeads, headDim, type }, vocabSize);
}

/** The eager model's logits for `tokens` appended to `seq`, last `keep` rows. */
async function eagerStep(model: EagerModel, seq: ReturnType<EagerModel["createSequence"]>, tokens: readonly number[], keep: number): Promise<Float32Array> {
  const [logits] = await model.forward([{ seq, tokens, logits: keep }]);
  return logits!;
}

function assertClose(graph: Float32Array, eager: Float32Array, what: string): void {
  const err = maxRelativeError(graph, eager);
  assert.ok(err < 1e-4, `${what}: the graph's logits differ from the eager model's by ${err} (relative)`);
}

interface Case {
  readonly name: string;
  readonly dir: () => string;
  readonly prompts: readonly (readonly number[])[];
  readonly skip: string | false;
}

const qwenIds = [[9707, 11, 1879, 0, 576], [100004, 105546, 9370, 99346, 100132, 17714, 46944, 13876, 38835]];
const cases: Case[] = [
  { name: "tiny Qwen2", dir: () => cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32" }), prompts: qwenIds, skip: false },
  { name: "tiny Llama", dir: () => cachedTinyModel({ arch: "llama", preset: "tiny", dtype: "f32" }), prompts: qwenIds, skip: false },
  { name: "stories260K", dir: () => ("missing" in stories ? "" : stories.dir), prompts: [[1, 403, 407, 261], [1, 379, 260, 284, 270, 262, 290, 296, 319]], skip: skipStories },
];

describe("the traced primitive graph", () => {
  for (const c of cases) {
    it(`${c.name}: verifies, runs on onnxruntime and agrees with the eager model (left-padded prefill, decode with a past, num_logits_to_keep 3, 2 and 1)`, { skip: c.skip }, async () => {
      const dir = c.dir();
      const traced = traceAndWrite(dir);
      const ops = new Set(traced.graph.nodes.map((n) => n.opType));
      assert.ok(![...ops].some((op) => op.includes("::") || op === "SimplifiedLayerNormalization"), `standard ops only, got ${[...ops].join(", ")}`);
      const eager = await loadEagerModel(dir, { storage: { format: "f32" }, threads: 1 });
      const batch = await openBatch(traced);
      try {
        const seqs = c.prompts.map(() => eager.createSequence());
        const prefill = await batch.prefill(c.prompts, 3);
        for (const [b, p] of c.prompts.entries()) assertClose(prefill[b]!, await eagerStep(eager, seqs[b]!, p, 3), `prefill of prompt ${b}`);
        const next = [[11, 12], [13, 14]];
        const two = await batch.step(next, 2);
        for (const [b, tokens] of next.entries()) assertClose(two[b]!, await eagerStep(eager, seqs[b]!, tokens, 2), `two-token step of prompt ${b}`);
        const one = await batch.step([[21], [22]], 1);
        for (const [b, tokens] of [[21], [22]].entries()) assertClose(one[b]!, await eagerStep(eager, seqs[b]!, tokens, 1), `decode step of prompt ${b}`);
      } finally {
        await batch.release();
        await eager.dispose();
      }
    });
  }

  it("num_logits_to_keep 0 returns every row; the padding rows are finite (no NaN from fully masked attention)", async () => {
    const dir = cases[0]!.dir();
    const traced = traceAndWrite(dir);
    const eager = await loadEagerModel(dir, { threads: 1 });
    const batch = await openBatch(traced);
    try {
      const [short, long] = qwenIds as [number[], number[]];
      const rows = await batch.prefill([short, long], 0);
      const vocab = traced.config.vocabSize;
      assert.equal(rows[0]!.length, long.length * vocab);
      assert.ok(rows[0]!.every(Number.isFinite), "padding rows hold NaN or infinity");
      const alone = await eagerStep(eager, eager.createSequence(), short, short.length);
      assertClose(rows[0]!.subarray((long.length - short.length) * vocab), alone, "the real rows of the padded prompt");
    } finally {
      await batch.release();
      await eager.dispose();
    }
  });
});

describe("greedy decoding through the graph", () => {
  it("stories260K reproduces llama2.c's greedy tokens from BOS", { skip: skipStories }, async () => {
    if ("missing" in stories) return;
    const traced = traceAndWrite(stories.dir);
    const batch = await openBatch(traced);
    try {
      const [ids] = await batch.greedy([stories.promptIds], stories.greedyNewIds.length);
      assert.deepEqual(ids, stories.greedyNewIds);
    } finally {
      await batch.release();
    }
  });

  it("tiny Qwen2: a left-padded batch of two prompts gives the eager model's tokens for each alone", async () => {
    const dir = cases[0]!.dir();
    const traced = traceAndWrite(dir);
    const eager = await loadEagerModel(dir, { threads: 1 });
    const batch = await openBatch(traced);
    try {
      const n = 12;
      const got = await batch.greedy(qwenIds, n);
      for (const [b, prompt] of qwenIds.entries()) {
        const seq = eager.createSequence();
        const want: number[] = [];
        let logits = await eagerStep(eager, seq, prompt, 1);
        for (let i = 0; i < n; i++) {
          want.push(argmax(logits, 0, traced.config.vocabSize));
          if (i + 1 < n) logits = await eagerStep(eager, seq, [want[i]!], 1);
        }
        assert.deepEqual(got[b], want, `prompt ${b}`);
      }
    } finally {
      await batch.release();
      await eager.dispose();
    }
  });
});

describe("16-bit checkpoints", () => {
  for (const dtype of ["bf16", "f16"] as const) {
    it(`a ${dtype} checkpoint is widened and transposed into an f32 graph that agrees with the eager model`, async () => {
      const dir = cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype });
      const traced = traceAndWrite(dir);
      const eager = await loadEagerModel(dir, { storage: { format: "f32" }, threads: 1 });
      const batch = await openBatch(traced);
      try {
        const got = await batch.prefill(qwenIds, 2);
        for (const [b, p] of qwenIds.entries()) assertClose(got[b]!, await eagerStep(eager, eager.createSequence(), p, 2), `prompt ${b}`);
      } finally {
        await batch.release();
        await eager.dispose();
      }
    });
  }
});

describe("16-bit graphs", () => {
  it("float16: builds, verifies, and runs on onnxruntime's CPU provider where it has the kernels, close to f32", async (t) => {
    const dir = cases[0]!.dir();
    const half = traceAndWrite(dir, "f16");
    const kv = half.graph.inputs.find((v) => v.name === "past_key_values.0.key")!;
    assert.equal(kv.dtype, "f16");
    assert.equal(half.graph.outputs[0]!.dtype, "f32", "logits are f32 whatever the graph's dtype");
    let batch: DecoderBatch;
    try {
      batch = await openBatch(half, "float16");
    } catch (e) {
      t.diagnostic(`onnxruntime-node's CPU provider cannot load the f16 graph: ${(e as Error).message.split("\n")[0]}`);
      return;
    }
    try {
      let got: Float32Array[];
      try {
        got = await batch.prefill(qwenIds, 1);
      } catch (e) {
        t.diagnostic(`onnxruntime-node's CPU provider lacks an f16 kernel the graph needs: ${(e as Error).message.split("\n")[0]}`);
        return;
      }
      const full = traceAndWrite(dir);
      const ref = await openBatch(full);
      const want = await ref.prefill(qwenIds, 1);
      await ref.release();
      const err = Math.max(...got.map((g, b) => maxRelativeError(g, want[b]!)));
      t.diagnostic(`f16 vs f32 logits: ${err.toExponential(2)} relative`);
      assert.ok(err < 2e-2, `f16 logits differ from f32 by ${err}`);
    } finally {
      await batch.release();
    }
  });

  it("bfloat16: builds, verifies, writes and reads back (no CPU kernels to run it)", () => {
    const traced = traceAndWrite(cases[0]!.dir(), "bf16");
    const back = readModel(traced.modelPath);
    assert.deepEqual(verify(back), []);
    const inits = back.initializers.filter((v) => v.name.startsWith("model.layers."));
    assert.ok(inits.length > 0 && inits.every((v) => v.dtype === "bf16"), "weights are stored in bf16");
  });
});

describe("malformed checkpoints", () => {
  const attempt = (options: Parameters<typeof writeMicroModel>[1]) => {
    const dir = path.join(root, `bad${runs++}`);
    writeMicroModel(dir, options);
    return () => {
      const checkpoint = openCheckpoint(dir);
      try {
        traceDecoder({ config: readDecoderConfig(dir), checkpoint, where: dir });
      } finally {
        checkpoint.close();
      }
    };
  };

  it("a missing tensor is an error naming it", () => {
    assert.throws(attempt({ drop: "model.layers.1.mlp.up_proj.weight" }), /tensor "model\.layers\.1\.mlp\.up_proj\.weight" is missing/);
  });

  it("a tensor of the wrong shape is an error naming it and both shapes", () => {
    assert.throws(
      attempt({ reshape: { name: "model.layers.0.self_attn.k_proj.weight", shape: [32, 32] } }),
      /tensor "model\.layers\.0\.self_attn\.k_proj\.weight" has shape \[32, 32\], config\.json says \[16, 32\]/,
    );
  });
});
