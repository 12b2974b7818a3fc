import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { type DecoderConfig, readDecoderConfig } from "@oar/modeling";
import { maxRelativeError, openCheckpoint } from "@oar/tensor";
import { verify } from "../ir/verify.js";
import { writeModel } from "../onnx/write.js";
import { cleanupPipeline } from "../passes/cleanup.js";
import { fusionPipelines } from "../passes/fusion/index.js";
import { runPipeline, runPipelines } from "../rewrite/manager.js";
import { pastName, presentName } from "./io.js";
import type { AttentionForm } from "./backend.js";
import { BLOCK_TABLES, type KvLayout, blockPoolName, newKvName } from "./kv-io.js";
import { traceDecoder } from "./trace.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-kv-io-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let written = 0;

/** Traces `dir` with the KV interface `kv`, cleans up (and fuses), and opens the graph on onnxruntime. */
async function open(dir: string, kv: KvLayout, fuse: boolean, attention: AttentionForm): Promise<{ config: DecoderConfig; session: ort.InferenceSession; ops: Set<string> }> {
  const config = readDecoderConfig(dir);
  const checkpoint = openCheckpoint(dir);
  try {
    const graph = traceDecoder({ config, checkpoint, where: dir, kv, attention });
    runPipeline(graph, cleanupPipeline(), { verify: true });
    if (fuse) runPipelines(graph, fusionPipelines({ maxPositions: config.maxPositions }), { verify: true });
    assert.deepEqual(verify(graph), []);
    const { modelPath } = writeModel(graph, path.join(root, `m${written++}`));
    const session = await ort.InferenceSession.create(modelPath, { executionProviders: ["cpu"], logSeverityLevel: 3 });
    return { config, session, ops: new Set(graph.nodes.map((n) => n.opType)) };
  } finally {
    checkpoint.close();
  }
}

const i64 = (values: readonly number[], dims: readonly number[]) => new ort.Tensor("int64", BigInt64Array.from(values, (v) => BigInt(v)), [...dims]);
const f32 = (t: ort.Tensor | undefined) => t!.data as Float32Array;

const PROMPTS = [[9707, 11, 1879, 0, 576], [100004, 105546, 9370, 99346, 100132, 17714, 46944, 13876, 38835]];
const WIDTH = 9; // the longest prompt
const NEXT = [3974, 279];
const BLOCK = 4;

/**
 * The dense graph prefills the two prompts left-padded, then decodes one
 * token each over the presents. The block graph runs the same decode step
 * from pools holding each prompt's real positions (no padding) in
 * scattered blocks; its logits and new KV must equal the dense graph's.
 */
async function compare(dir: string, fuse: boolean, attention: AttentionForm): Promise<void> {
  const dense = await open(dir, { kind: "present+new" }, fuse, attention);
  const blocks = await open(dir, { kind: "blocks", blockSize: BLOCK }, fuse, attention);
  try {
    const { numLayers: layers, numKvHeads: kvHeads, headDim, vocabSize } = dense.config;
    const gqa = fuse && attention === "repeat-kv";
    for (const g of [dense, blocks]) assert.equal(g.ops.has("GroupQueryAttention"), gqa, gqa ? "GroupQueryAttention fuses" : "no GroupQueryAttention");
    const empty: Record<string, ort.Tensor> = {};
    for (let l = 0; l < layers; l++) {
      for (const kind of ["key", "value"] as const) empty[pastName(l, kind)] = new ort.Tensor("float32", new Float32Array(0), [2, kvHeads, 0, headDim]);
    }
    const mask = PROMPTS.map((p) => [...Array<number>(WIDTH - p.length).fill(0), ...Array<number>(p.length).fill(1)]);
    const prefill = await dense.session.run({
      input_ids: i64(PROMPTS.flatMap((p) => [...Array<number>(WIDTH - p.length).fill(0), ...p]), [2, WIDTH]),
      attention_mask: i64(mask.flat(), [2, WIDTH]),
      position_ids: i64(PROMPTS.flatMap((p) => [...Array<number>(WIDTH - p.length).fill(0), ...p.map((_, i) => i)]), [2, WIDTH]),
      num_logits_to_keep: i64([1], []),
      ...empty,
    });
    const past: Record<string, ort.Tensor> = {};
    for (let l = 0; l < layers; l++) {
      for (const kind of ["key", "value"] as const) {
        assert.deepEqual(f32(prefill[newKvName(l, kind)]), f32(prefill[presentName(l, kind)]), "over an empty past, the new KV is the present");
        past[pastName(l, kind)] = prefill[presentName(l, kind)]!;
      }
    }
    const decode = await dense.session.run({
      input_ids: i64(NEXT, [2, 1]),
      attention_mask: i64(mask.flatMap((m) => [...m, 1]), [2, WIDTH + 1]),
      position_ids: i64(PROMPTS.map((p) => p.length), [2, 1]),
      num_logits_to_keep: i64([1], []),
      ...past,
    });

    // Row b's positions go to blocks tables[b], in order; 9 positions need 3 blocks of 4.
    const tables = [[5, 2, 0], [1, 6, 3]];
    const numBlocks = 7;
    const maxBlocks = 3;
    const pools: Record<string, ort.Tensor> = {};
    for (let l = 0; l < layers; l++) {
      for (const kind of ["key", "value"] as const) {
        const pool = new Float32Array(numBlocks * kvHeads * BLOCK * headDim).fill(7); // garbage where nothing is held
        const present = f32(prefill[presentName(l, kind)]); // [2, kv, WIDTH, D]
        PROMPTS.forEach((p, b) => {
          for (let h = 0; h < kvHeads; h++) {
            for (let pos = 0; pos < p.length; pos++) {
              const src = ((b * kvHeads + h) * WIDTH + (WIDTH - p.length + pos)) * headDim;
              const dst = ((tables[b]![Math.floor(pos / BLOCK)]! * kvHeads + h) * BLOCK + (pos % BLOCK)) * headDim;
              pool.set(present.subarray(src, src + headDim), dst);
            }
          }
        });
        pools[blockPoolName(l, kind)] = new ort.Tensor("float32", pool, [numBlocks, kvHeads, BLOCK, headDim]);
      }
    }
    const held = maxBlocks * BLOCK;
    const out = await blocks.session.run({
      input_ids: i64(NEXT, [2, 1]),
      attention_mask: i64(PROMPTS.flatMap((p) => [...Array<number>(held).fill(0).map((_, j) => (j < p.length ? 1 : 0)), 1]), [2, held + 1]),
      position_ids: i64(PROMPTS.map((p) => p.length), [2, 1]),
      [BLOCK_TABLES]: i64(tables.flat(), [2, maxBlocks]),
      num_logits_to_keep: i64([1], []),
      ...pools,
    });
    assert.equal(f32(out["logits"]).length, 2 * vocabSize);
    const err = maxRelativeError(f32(out["logits"]), f32(decode["logits"]));
    assert.ok(err < 1e-4, `block attention's logits differ from the dense graph's by ${err} (relative)`);
    for (let l = 0; l < layers; l++) {
      for (const kind of ["key", "value"] as const) {
        const present = f32(decode[presentName(l, kind)]); // [2, kv, WIDTH+1, D]
        const fresh = f32(decode[newKvName(l, kind)]); // [2, kv, 1, D]
        for (let bh = 0; bh < 2 * kvHeads; bh++) {
          assert.deepEqual(fresh.subarray(bh * headDim, (bh + 1) * headDim), present.subarray((bh * (WIDTH + 1) + WIDTH) * headDim, (bh * (WIDTH + 1) + WIDTH + 1) * headDim));
        }
        assert.ok(maxRelativeError(f32(out[newKvName(l, kind)]), fresh) < 1e-5, `layer ${l} ${kind}: the block graph's new KV differs`);
      }
    }
  } finally {
    await dense.session.release();
    await blocks.session.release();
  }
}

describe("KV interfaces of the traced graph", () => {
  it("present+new returns the step's own KV; block attention over scattered blocks gives the dense graph's logits (tiny Llama, primitive)", async () => {
    await compare(cachedTinyModel({ arch: "llama", preset: "tiny", dtype: "f32" }), false, "repeat-kv");
  });

  it("the same after fusion, GroupQueryAttention reading the gathered blocks (tiny Qwen2)", async () => {
    await compare(cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32" }), true, "repeat-kv");
  });

  for (const fuse of [false, true]) {
    it(`the same with grouped attention, ${fuse ? "fused" : "primitive"} (tiny Qwen2)`, async () => {
      await compare(cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32" }), fuse, "grouped");
    });
  }
});
