import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cachedTinyModel, stories260K } from "@oar/make-tiny-model";
import { type DecoderConfig, readDecoderConfig } from "@oar/modeling";
import { type Tensor, openCheckpoint } from "@oar/tensor";
import type { Graph } from "../../ir/graph.js";
import type { OpType } from "../../ir/ops.js";
import { verify } from "../../ir/verify.js";
import { type Pipeline, type PipelineReport, runPipeline, runPipelines } from "../../rewrite/manager.js";
import type { Pass } from "../../rewrite/rule.js";
import { maxRelDiff, randomF32, runOrt } from "../../testing/ort.js";
import { traceDecoder } from "../../trace/trace.js";
import { cleanupPipeline } from "../cleanup.js";
import { deadCodeElimination } from "../dead-code.js";
import { type PaddedRun, paddedRunDifference, runPaddedBatch, scratchDir, writeScratch } from "./decoder-runs.js";
import { type ExporterStyle, TINY_QWEN2, checkpointWeights, handBuiltDecoder, randomWeights } from "./hand-built-decoder.js";
import {
  ATTENTION_METADATA_KEY,
  attentionMetadataPass,
  attentionPresentRule,
  fusionPipelines,
  gateUpMergeRule,
  groupQueryAttentionRule,
  qkvBiasMergeRule,
  qkvMergeRule,
  rmsNormRule,
  rotaryRule,
  siluRule,
  skipRmsNormRule,
} from "./index.js";

const dir = scratchDir("oar-fusion-");
/** Two rows, the second left-padded by three positions. */
const PROMPTS = [
  [5, 17, 42, 7, 99, 3],
  [11, 200, 31],
];
const NEXT = [64, 128];
const RELATIVE = 1e-4;
const int64s = (shape: readonly number[], values: readonly number[]): Tensor => ({ dtype: "i64", shape, data: BigInt64Array.from(values, (x) => BigInt(x)) });

function tinyGraph(style: ExporterStyle): Graph {
  return handBuiltDecoder({ config: TINY_QWEN2, weight: randomWeights(TINY_QWEN2, 7), style });
}

async function run(graph: Graph, cfg: DecoderConfig = TINY_QWEN2): Promise<PaddedRun> {
  return runPaddedBatch(writeScratch(graph, dir), cfg, PROMPTS.map((p) => p.map((id) => id % cfg.vocabSize)), NEXT.map((id) => id % cfg.vocabSize));
}

function count(graph: Graph, op: OpType): number {
  return graph.nodes.filter((n) => n.is(op)).length;
}

function fired(report: PipelineReport, pass: string): number {
  const p = report.passes.find((s) => s.pass === pass);
  if (p === undefined) throw new Error(`no pass '${pass}' in pipeline '${report.pipeline}'`);
  return p.fired;
}

/** Runs `passes` (then dead-code elimination) and checks the graph on onnxruntime against itself before. */
async function checkPasses(graph: Graph, passes: readonly Pass[], cfg: DecoderConfig = TINY_QWEN2): Promise<PipelineReport> {
  const before = await run(graph, cfg);
  const report = runPipeline(graph, { name: "under-test", passes: [...passes, deadCodeElimination] }, { verify: true });
  const after = await run(graph, cfg);
  const diff = paddedRunDifference(after, before, cfg, cfg.vocabSize);
  assert.ok(diff.logits < RELATIVE, `logits differ by ${diff.logits} (relative)`);
  assert.ok(diff.kv < RELATIVE, `present K/V differ by ${diff.kv} (relative)`);
  return report;
}

describe("fusion passes, one at a time, on a 2-layer Qwen2-like graph (head size 16, left padding, prefill + decode)", () => {
  it("rms-norm: 5 RMSNorms become SimplifiedLayerNormalization", async () => {
    const g = tinyGraph("trace");
    const report = await checkPasses(g, [rmsNormRule]);
    assert.equal(fired(report, "rms-norm"), 5);
    assert.equal(count(g, "SimplifiedLayerNormalization"), 5);
    assert.equal(count(g, "ReduceMean"), 0);
  });

  it("skip-rms-norm: 4 residual Adds join their norm; output 3 carries the residual stream", async () => {
    const g = tinyGraph("trace");
    runPipeline(g, { name: "norms", passes: [rmsNormRule] });
    const report = await checkPasses(g, [skipRmsNormRule]);
    assert.equal(fired(report, "skip-rms-norm"), 4);
    assert.equal(count(g, "SkipSimplifiedLayerNormalization"), 4);
    assert.equal(count(g, "SimplifiedLayerNormalization"), 1, "the first norm reads the embedding, not a residual sum");
    const skips = g.nodes.filter((n) => n.is("SkipSimplifiedLayerNormalization"));
    assert.ok(skips.slice(0, 3).every((n) => n.output(3).uses.length > 0), "each layer's residual feeds the next Add");
  });

  it("rotary-embedding: q and k of each layer become RotaryEmbedding with shared caches", async () => {
    const g = tinyGraph("trace");
    const report = await checkPasses(g, [rotaryRule({ maxPositions: TINY_QWEN2.maxPositions })]);
    assert.equal(fired(report, "rotary-embedding"), 4);
    assert.equal(count(g, "RotaryEmbedding"), 4);
    assert.equal(count(g, "Cos") + count(g, "Sin"), 0, "the tables computed from position_ids are gone");
    const caches = new Set(g.nodes.filter((n) => n.is("RotaryEmbedding")).flatMap((n) => [n.input(2), n.input(3)]));
    assert.equal(caches.size, 2, "one cos and one sin cache for every layer");
    assert.deepEqual(g.value("rotary_cos_cache")?.shape, [TINY_QWEN2.maxPositions, TINY_QWEN2.headDim / 2]);
  });

  it("group-query-attention: 2 layers, no Softmax left, presents from the fused op", async () => {
    const g = tinyGraph("trace");
    runPipeline(g, { name: "rotary", passes: [rotaryRule({ maxPositions: TINY_QWEN2.maxPositions })] });
    const report = await checkPasses(g, [groupQueryAttentionRule, deadCodeElimination, attentionPresentRule, attentionMetadataPass]);
    assert.equal(fired(report, "group-query-attention"), 2);
    assert.equal(fired(report, "group-query-attention-present"), 4);
    assert.equal(count(g, "GroupQueryAttention"), 2);
    assert.equal(count(g, "Softmax"), 0);
    for (const o of g.outputs.filter((v) => v.name.startsWith("present."))) {
      assert.equal(o.node?.opType, "GroupQueryAttention", `${o.name} comes from GroupQueryAttention`);
    }
    const gqa = g.nodes.find((n) => n.is("GroupQueryAttention"))!;
    assert.equal(gqa.attribute("scale")?.type, "float");
    assert.equal(gqa.int("num_heads"), 4);
    assert.equal(gqa.int("kv_num_heads"), 2);
    assert.deepEqual(JSON.parse(g.metadata.get(ATTENTION_METADATA_KEY)!), {
      op: "GroupQueryAttention",
      layers: 2,
      padding: "as-attention-mask",
      multiTokenStepWithPast: "batch-size-1-only",
    });
  });

  it("qkv-merge and qkv-bias-merge: one MatMul, one Add, one Split per layer", async () => {
    const g = tinyGraph("trace");
    const report = await checkPasses(g, [qkvMergeRule, qkvBiasMergeRule]);
    assert.equal(fired(report, "qkv-merge"), 2);
    assert.equal(fired(report, "qkv-bias-merge"), 2);
    const merged = g.value("model.layers.0.self_attn.q_proj+k_proj+v_proj");
    assert.deepEqual(merged?.shape, [64, 64 + 32 + 32], "weights side by side, q then k then v");
    assert.equal(count(g, "Split"), 2);
  });

  it("gate-up-merge and silu: one MatMul per MLP, SiLU as QuickGelu", async () => {
    const g = tinyGraph("trace");
    const report = await checkPasses(g, [qkvMergeRule, gateUpMergeRule, siluRule]);
    assert.equal(fired(report, "gate-up-merge"), 2);
    assert.equal(fired(report, "silu"), 2);
    assert.equal(count(g, "Sigmoid"), 0);
    assert.equal(count(g, "MatMul"), 2 * 6 + 1, "per layer: qkv, two in the attention, o, gate+up, down; and lm_head");
  });
});

describe("fusionPipelines", () => {
  for (const style of ["trace", "foreign"] as const) {
    it(`fuse a ${style}-style graph completely; outputs agree to 1e-4`, async () => {
      const g = tinyGraph(style);
      const before = await run(g);
      const reports = runPipelines(g, fusionPipelines({ maxPositions: TINY_QWEN2.maxPositions }), { verify: true });
      const after = await run(g);
      const diff = paddedRunDifference(after, before, TINY_QWEN2, TINY_QWEN2.vocabSize);
      console.log(`# ${style}: fused vs primitive, max relative difference: logits ${diff.logits.toExponential(2)}, K/V ${diff.kv.toExponential(2)}`);
      assert.ok(diff.logits < RELATIVE && diff.kv < RELATIVE);
      const ops = (op: OpType) => count(g, op);
      assert.deepEqual(
        {
          gqa: ops("GroupQueryAttention"),
          norms: ops("SimplifiedLayerNormalization") + ops("SkipSimplifiedLayerNormalization"),
          softmax: ops("Softmax"),
          rotary: ops("RotaryEmbedding"),
          matmul: ops("MatMul"),
          silu: ops("QuickGelu"),
        },
        { gqa: 2, norms: 5, softmax: 0, rotary: 4, matmul: 9, silu: 2 },
      );
      const rejections = reports.flatMap((r) => r.passes.flatMap((p) => p.reasons.map((x) => `${p.pass}: ${x.reason}`)));
      assert.deepEqual(rejections, []);
      assert.deepEqual(verify(g), []);
    });
  }

  it("keep stories260K's attention primitive (head size 8) and say why; fuse the rest", async (t) => {
    const fixture = stories260K();
    if ("missing" in fixture) {
      t.skip(fixture.missing);
      return;
    }
    const { config, weight } = checkpointWeights(fixture.dir);
    const g = handBuiltDecoder({ config, weight, style: "trace" });
    const before = await run(g, config);
    const reports = runPipelines(g, fusionPipelines({ maxPositions: config.maxPositions }), { verify: true });
    const after = await run(g, config);
    const diff = paddedRunDifference(after, before, config, config.vocabSize);
    assert.ok(diff.logits < RELATIVE && diff.kv < RELATIVE, `differences ${JSON.stringify(diff)}`);
    const attention = reports.find((r) => r.pipeline === "fusion-attention")!.passes.find((p) => p.pass === "group-query-attention")!;
    assert.equal(attention.fired, 0);
    assert.equal(attention.rejected, config.numLayers);
    assert.deepEqual(
      attention.reasons.map((r) => r.reason),
      ["head_size 8 is not a multiple of 16, which onnxruntime's CPU GroupQueryAttention needs; the attention stays primitive"],
    );
    assert.equal(count(g, "Softmax"), config.numLayers);
    assert.equal(count(g, "RotaryEmbedding"), 2 * config.numLayers);
    assert.equal(count(g, "SkipSimplifiedLayerNormalization"), 2 * config.numLayers);
    assert.equal(g.metadata.has(ATTENTION_METADATA_KEY), false);
  });

  for (const arch of ["qwen2", "llama"] as const) {
    it(`fuse a traced tiny ${arch} (make-tiny-model; ${arch === "qwen2" ? "q/k/v bias, tied lm_head" : "no bias, untied lm_head"})`, async () => {
      const modelDir = cachedTinyModel({ arch, preset: "tiny", dtype: "f32" });
      const config = readDecoderConfig(modelDir);
      const g = traceDecoder({ config, checkpoint: openCheckpoint(modelDir), where: modelDir });
      runPipeline(g, cleanupPipeline());
      const before = await run(g, config);
      const reports = runPipelines(g, fusionPipelines({ maxPositions: config.maxPositions }), { verify: true });
      const after = await run(g, config);
      const diff = paddedRunDifference(after, before, config, config.vocabSize);
      console.log(`# traced tiny ${arch}: fused vs primitive, max relative difference: logits ${diff.logits.toExponential(2)}, K/V ${diff.kv.toExponential(2)}`);
      assert.ok(diff.logits < RELATIVE && diff.kv < RELATIVE);
      assert.deepEqual(
        [count(g, "GroupQueryAttention"), count(g, "SkipSimplifiedLayerNormalization"), count(g, "Softmax"), count(g, "MatMul")],
        [config.numLayers, 2 * config.numLayers, 0, 4 * config.numLayers + 1],
      );
      assert.deepEqual(reports.flatMap((r) => r.passes.flatMap((p) => p.reasons.map((x) => `${p.pass}: ${x.reason}`))), []);
    });
  }

  it("run several tokens over a non-empty past at batch size 1 only, as the attention metadata says", async () => {
    const primitive = writeScratch(tinyGraph("trace"), dir);
    const fusedGraph = tinyGraph("trace");
    runPipelines(fusedGraph, fusionPipelines({ maxPositions: TINY_QWEN2.maxPositions }));
    const fused = writeScratch(fusedGraph, dir);
    const kv = TINY_QWEN2.numKvHeads * TINY_QWEN2.headDim;
    /** A step of `ids` per row after a past of `past` positions (random K/V), every position real. */
    const step = (file: string, rows: number, ids: readonly number[], past: number) => {
      const feeds: Record<string, Tensor> = {
        input_ids: int64s([rows, ids.length], Array.from({ length: rows }, () => ids).flat()),
        attention_mask: int64s([rows, past + ids.length], new Array<number>(rows * (past + ids.length)).fill(1)),
        position_ids: int64s([rows, ids.length], Array.from({ length: rows }, () => ids.map((_, i) => past + i)).flat()),
        num_logits_to_keep: int64s([], [0]),
      };
      for (let l = 0; l < TINY_QWEN2.numLayers; l++) {
        for (const kind of ["key", "value"]) {
          const shape = [rows, TINY_QWEN2.numKvHeads, past, TINY_QWEN2.headDim];
          feeds[`past_key_values.${l}.${kind}`] = { dtype: "f32", shape, data: randomF32(rows * kv * past, l + 3) };
        }
      }
      return runOrt(file, feeds);
    };
    const [a, b] = await Promise.all([step(primitive, 1, [3, 4, 5], 4), step(fused, 1, [3, 4, 5], 4)]);
    assert.ok(maxRelDiff(b["logits"]!, a["logits"]!) < RELATIVE);
    await assert.rejects(step(fused, 2, [3, 4, 5], 4), /batch_size must be 1 when sequence_length > 1 and past context is given/);
    assert.equal(JSON.parse(fusedGraph.metadata.get(ATTENTION_METADATA_KEY)!).multiTokenStepWithPast, "batch-size-1-only");
  });

  it("leave a fused graph alone when run again", () => {
    const g = tinyGraph("trace");
    const pipelines: Pipeline[] = fusionPipelines({ maxPositions: TINY_QWEN2.maxPositions });
    runPipelines(g, pipelines);
    const again = runPipelines(g, [...pipelines, cleanupPipeline()]);
    assert.deepEqual(
      again.flatMap((r) => r.passes.filter((p) => p.fired > 0).map((p) => p.pass)),
      [],
    );
  });
});
