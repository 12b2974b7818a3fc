import assert from "node:assert/strict";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { generateBatch } from "@oar/generation";
import { makePrefix } from "@oar/make-adapter";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { loadAdapters, loadEagerModel, readDecoderConfig } from "@oar/modeling";
import { loadStaticModel } from "./load.js";
import { greedyTokens, testExports } from "./testing/exports.js";

const exports = testExports("prefix");
after(() => exports.remove());

const PROMPTS = [[9707, 11, 1879, 0, 576], [100004, 105546, 9370], [40]];
const NEW = 8;

describe("a prefix-tuning prefix exported beside the graph", () => {
  const modelDir = cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32" });
  let made: string | null = null;
  const prefixDir = () => {
    if (made === null) {
      made = exports.scratch("prefix");
      makePrefix({ modelDir, outDir: made, format: "peft", tokens: 6 });
    }
    return made;
  };
  let eagerTokens: Promise<number[][]> | null = null;
  const expected = () => {
    eagerTokens ??= (async () => {
      const prefix = loadAdapters([prefixDir()], readDecoderConfig(modelDir)).prefix!;
      const eager = await loadEagerModel(modelDir, { prefix, threads: 1 });
      try {
        assert.equal(eager.prefixLength, 6);
        const out = [];
        for (const p of PROMPTS) out.push(await greedyTokens(eager, p, NEW));
        const plain = await loadEagerModel(modelDir, { threads: 1 });
        try {
          assert.notDeepEqual(await greedyTokens(plain, PROMPTS[0]!, NEW), out[0], "the prefix changes the tokens");
        } finally {
          await plain.dispose();
        }
        return out;
      } finally {
        await eager.dispose();
      }
    })();
    return eagerTokens;
  };

  for (const [what, options] of [
    ["dense cache", {}],
    ["dense cache, fused graph (prompts after a prefix prefill one at a time)", { inferenceModel: true }],
    ["block attention, blocks of 4 (one block shared, two positions copied per sequence)", { blockAttn: true, blockSize: 4 }],
    ["block attention, fused graph, blocks of 8", { inferenceModel: true, blockAttn: true, blockSize: 8 }],
  ] as const) {
    it(`gives the eager model's greedy tokens with the same prefix, alone and batched (${what})`, async () => {
      const prefix = prefixDir();
      const dir = await exports.dir(modelDir, { prefixPath: prefix, ...options });
      const model = await loadStaticModel(dir, { batchSize: 2 });
      try {
        assert.equal(model.prefixLength, 6);
        const want = await expected();
        const alone = [];
        for (const p of PROMPTS) alone.push(await greedyTokens(model, p, NEW));
        assert.deepEqual(alone, want);
        const run = await generateBatch(model, PROMPTS.map((tokens) => ({ tokens })), { maxNewTokens: NEW, ignoreEos: true, batchSize: 2 });
        assert.deepEqual(
          run.results.map((r) => r.tokens),
          want,
        );
      } finally {
        await model.dispose();
      }
    });
  }

  it("is read from the file oar_inference.json names", async () => {
    const dir = await exports.dir(modelDir, { prefixPath: prefixDir() });
    const model = await loadStaticModel(dir);
    try {
      assert.equal(path.basename(model.manifest.prefix!.file), "prefix_kv.safetensors");
    } finally {
      await model.dispose();
    }
  });
});
