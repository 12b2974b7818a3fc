import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { cachedTinyModel, stories260K } from "@oar/make-tiny-model";
import { loadEagerModel } from "@oar/modeling";
import { loadStaticModel } from "./load.js";
import { argmax, maxRelativeError } from "@oar/tensor";
import { greedyTokens, testExports } from "./testing/exports.js";

const exports = testExports("static-model");
after(() => exports.remove());

const stories = stories260K();
const skipStories = "missing" in stories ? stories.missing : false;
const PROMPT = [9707, 11, 1879, 0, 576, 3974, 13876];
const NEW = 12;

const tiny = (arch: "qwen2" | "llama") => cachedTinyModel({ arch, preset: "tiny", dtype: "f32" });

describe("static greedy tokens equal the eager model's", () => {
  for (const arch of ["qwen2", "llama"] as const) {
    for (const [what, options] of [
      ["primitive graph", {}],
      ["fused graph", { inferenceModel: true }],
      ["block attention, blocks of 4", { blockAttn: true, blockSize: 4 }],
      ["fused graph with block attention", { inferenceModel: true, blockAttn: true, blockSize: 4 }],
    ] as const) {
      it(`tiny ${arch}, ${what}`, async () => {
        const eager = await loadEagerModel(tiny(arch), { threads: 1 });
        const expected = await greedyTokens(eager, PROMPT, NEW);
        await eager.dispose();
        const model = await loadStaticModel(await exports.dir(tiny(arch), options));
        try {
          assert.deepEqual(await greedyTokens(model, PROMPT, NEW), expected);
        } finally {
          await model.dispose();
        }
      });
    }
  }

  for (const [what, options] of [
    ["primitive graph", {}],
    ["fused graph (attention stays primitive: head size 8)", { inferenceModel: true }],
    ["block attention, blocks of 16", { blockAttn: true, blockSize: 16 }],
  ] as const) {
    it(`stories260K reproduces llama2.c's greedy tokens from BOS: ${what}`, { skip: skipStories }, async () => {
      if ("missing" in stories) return;
      const model = await loadStaticModel(await exports.dir(stories.dir, options));
      try {
        assert.deepEqual(await greedyTokens(model, stories.promptIds, stories.greedyNewIds.length), stories.greedyNewIds);
      } finally {
        await model.dispose();
      }
    });
  }
});

describe("graphs of other KV interfaces and dtypes", () => {
  it("a graph declared with io \"present\" (the present fetched, its new positions kept) gives the same tokens", async () => {
    const source = await exports.dir(tiny("qwen2"), { inferenceModel: true });
    const dir = exports.scratch("io-present");
    fs.cpSync(source, dir, { recursive: true });
    const file = path.join(dir, "oar_inference.json");
    const m = JSON.parse(fs.readFileSync(file, "utf8")) as { kv_cache: Record<string, unknown> };
    Object.assign(m.kv_cache, { io: "present", new_key: null, new_value: null });
    fs.writeFileSync(file, JSON.stringify(m));
    const [reference, present] = [await loadStaticModel(source), await loadStaticModel(dir, { kvChunk: 4 })];
    try {
      assert.deepEqual(await greedyTokens(present, PROMPT, NEW), await greedyTokens(reference, PROMPT, NEW));
    } finally {
      await reference.dispose();
      await present.dispose();
    }
  });

  for (const [what, options] of [
    ["dense", {}],
    ["block attention", { blockAttn: true, blockSize: 4 }],
  ] as const) {
    it(`a float16 graph keeps a float16 cache and agrees with float32 to 16-bit precision (${what})`, async () => {
      const ids = [9707, 11, 1879, 0, 576, 3974];
      const logitsOf = async (dtype: "float32" | "float16") => {
        const model = await loadStaticModel(await exports.dir(tiny("llama"), { dtype, ...options }));
        try {
          const seq = model.createSequence();
          await model.forward([{ seq, tokens: ids.slice(0, 4) }]);
          const [logits] = await model.forward([{ seq, tokens: ids.slice(4), logits: 2 }]);
          return logits!;
        } finally {
          await model.dispose();
        }
      };
      const err = maxRelativeError(await logitsOf("float16"), await logitsOf("float32"));
      assert.ok(err < 2e-2, `relative error ${err}`);
    });
  }
});

describe("the static model's forward", () => {
  const ids = [9707, 11, 1879, 0, 576, 3974, 13876, 38835, 34208, 916, 279, 15678, 5562, 13, 100004, 105546];
  for (const [what, options] of [
    ["dense", {}],
    ["dense, fused (several-token steps run one sequence at a time)", { inferenceModel: true }],
    ["block attention", { blockAttn: true, blockSize: 4 }],
    ["block attention, fused", { inferenceModel: true, blockAttn: true, blockSize: 4 }],
  ] as const) {
    it(`uneven chunks through the cache give a full forward's logits (${what})`, async () => {
      const model = await loadStaticModel(await exports.dir(tiny("qwen2"), options), { kvChunk: 4 });
      try {
        const whole = model.createSequence();
        const [full] = await model.forward([{ seq: whole, tokens: ids, logits: ids.length }]);
        // Two sequences fed together, in chunks of different sizes, so the steps of one call differ in length.
        const a = model.createSequence();
        const b = model.createSequence();
        const parts = { a: [5, 1, 4, 1, 1, 4], b: [3, 3, 1, 2, 6, 1] };
        const got = { a: new Float32Array(full!.length), b: new Float32Array(full!.length) };
        let at = { a: 0, b: 0 };
        for (let i = 0; i < parts.a.length; i++) {
          const na = parts.a[i]!;
          const nb = parts.b[i]!;
          const [la, lb] = await model.forward([
            { seq: a, tokens: ids.slice(at.a, at.a + na), logits: na },
            { seq: b, tokens: ids.slice(at.b, at.b + nb), logits: nb },
          ]);
          got.a.set(la!, at.a * model.vocabSize);
          got.b.set(lb!, at.b * model.vocabSize);
          at = { a: at.a + na, b: at.b + nb };
        }
        assert.equal(a.length, ids.length);
        for (const [name, logits] of Object.entries(got)) {
          const err = maxRelativeError(logits, full!);
          assert.ok(err < 1e-4, `sequence ${name}: relative error ${err}`);
        }
      } finally {
        await model.dispose();
      }
    });
  }

  it("refuses misuse with a message: a released sequence, a token outside the vocabulary, too many logits, a sequence twice", async () => {
    const model = await loadStaticModel(await exports.dir(tiny("qwen2")));
    try {
      const seq = model.createSequence();
      await assert.rejects(model.forward([{ seq, tokens: [model.vocabSize] }]), /token id 151936 of step 0 is outside the vocabulary/);
      await assert.rejects(model.forward([{ seq, tokens: [1, 2], logits: 3 }]), /asks for 3 rows of logits; it has 2 tokens/);
      await assert.rejects(model.forward([{ seq, tokens: [1] }, { seq, tokens: [2] }]), /appears in two steps/);
      model.releaseSequence(seq);
      await assert.rejects(model.forward([{ seq, tokens: [1] }]), /not held by this model/);
      assert.throws(() => model.releaseSequence(seq), /not held by this model/);
    } finally {
      await model.dispose();
    }
  });

  it("a sequence's logits do not depend on what else is in the batch", async () => {
    const model = await loadStaticModel(await exports.dir(tiny("llama")), { batchSize: 3 });
    try {
      const alone = model.createSequence();
      const [expected] = await model.forward([{ seq: alone, tokens: PROMPT }]);
      model.releaseSequence(alone);
      const others = [model.createSequence(), model.createSequence()];
      await model.forward(others.map((seq, i) => ({ seq, tokens: PROMPT.slice(0, 3 + i) })));
      const seq = model.createSequence();
      const [got] = await model.forward([{ seq, tokens: PROMPT }]);
      assert.equal(argmax(got!), argmax(expected!));
      assert.ok(maxRelativeError(got!, expected!) < 1e-5);
    } finally {
      await model.dispose();
    }
  });
});
