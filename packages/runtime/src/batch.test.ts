import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { type BatchRun, generate, generateBatch, type GenerationRequest } from "@oar/generation";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { loadStaticModel } from "./load.js";
import { testExports } from "./testing/exports.js";

const exports = testExports("batch");
after(() => exports.remove());

/** Ten prompts of very different lengths and budgets. */
const LENGTHS = [1, 40, 3, 25, 7, 60, 2, 12, 33, 5];
const BUDGETS = [14, 2, 9, 5, 16, 1, 9, 12, 3, 10];
const REQUESTS: GenerationRequest[] = LENGTHS.map((length, r) => ({
  tokens: Array.from({ length }, (_, i) => (r * 7919 + i * 104729) % 151000),
  maxNewTokens: BUDGETS[r]!,
}));
const OPTIONS = { maxNewTokens: 16, eosTokenIds: [151643] };

/** A slot is idle while prompts wait only when the head waited for memory. */
function assertNoIdleSlot(run: BatchRun): void {
  run.steps.forEach((step, s) => {
    if (step.queued > 0 && !step.blocked) {
      assert.ok(step.slots.every((slot) => slot !== null), `step ${s}: a slot is idle while ${step.queued} prompts wait`);
    }
  });
}

describe("continuous batching through generateBatch", () => {
  for (const [what, arch, options, numBlocks] of [
    ["dense cache, primitive graph (tiny Llama)", "llama", {}, undefined],
    ["dense cache, fused graph (tiny Qwen2)", "qwen2", { inferenceModel: true }, undefined],
    ["block attention, fused graph, a pool that holds everything (tiny Qwen2)", "qwen2", { inferenceModel: true, blockAttn: true, blockSize: 8 }, 64],
    ["block attention, a pool too small for three long prompts at once (tiny Qwen2)", "qwen2", { blockAttn: true, blockSize: 8 }, 9],
  ] as const) {
    it(`3 slots, 10 prompts: each gets its tokens when run alone; no slot idles while prompts wait (${what})`, async () => {
      const dir = await exports.dir(cachedTinyModel({ arch, preset: "tiny", dtype: "f32" }), options);
      const model = await loadStaticModel(dir, { batchSize: 3, ...(numBlocks === undefined ? {} : { numBlocks }) });
      try {
        const alone = [];
        for (const request of REQUESTS) alone.push((await generate(model, request, OPTIONS)).tokens);
        const run = await generateBatch(model, REQUESTS, { ...OPTIONS, batchSize: 3 });
        assert.deepEqual(
          run.results.map((r) => r.tokens),
          alone,
        );
        assertNoIdleSlot(run);
        assert.ok(run.steps.length < REQUESTS.reduce((n, r) => n + r.maxNewTokens!, 0), "sequences ran side by side");
        const blocked = run.steps.some((step) => step.blocked);
        assert.equal(blocked, numBlocks === 9, numBlocks === 9 ? "the small pool made the head wait" : "nothing waited for memory");
      } finally {
        await model.dispose();
      }
    });
  }
});
