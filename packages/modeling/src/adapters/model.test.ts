import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { readDecoderConfig } from "../architectures/index.js";
import type { SequenceCache } from "../eager/kv-cache.js";
import { loadEagerModel, type EagerModel, type EagerModelOptions, type PrefixCache } from "../eager/model.js";
import { randomPrefix, randomUpdates, tempDir } from "./fixtures.js";
import { loadAdapters } from "./load.js";
import { mergeLora, unmergedLora } from "./lora.js";
import { writePaddleLora, writePaddlePrefix, writePeftLora, writePeftPrefix, type LoraUpdate } from "./write.js";

/*
 * Adapters through the eager model of a tiny random Qwen2 (make-tiny-model's
 * "tiny" preset): merged and unmerged LoRA, both formats, stacking, and
 * prefixes against the prompt they stand for.
 */

const modelDir = cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32" });
const cfg = readDecoderConfig(modelDir);
const tmp = tempDir();
after(tmp.remove);
const PROMPT = [9707, 11, 1879, 0, 3555, 374, 279, 6722, 315, 9625];
const base: { logits: Float32Array; greedy: number[] } = { logits: new Float32Array(0), greedy: [] };

async function withModel<T>(options: EagerModelOptions, use: (m: EagerModel) => Promise<T> | T): Promise<T> {
  const model = await loadEagerModel(modelDir, { threads: 1, storage: { format: "f32" }, ...options });
  try {
    return await use(model);
  } finally {
    await model.dispose();
  }
}

/** Logits of every position of `ids` after whatever the sequence starts with. */
function logitsOf(model: EagerModel, ids: readonly number[]): Float32Array {
  const seq = model.createSequence();
  const [logits] = model.forwardSync([{ seq, tokens: ids, logits: ids.length }]);
  model.releaseSequence(seq);
  return logits!;
}

function greedy(model: EagerModel, prompt: readonly number[], n: number): number[] {
  const seq = model.createSequence();
  const out: number[] = [];
  let [logits] = model.forwardSync([{ seq, tokens: prompt }]);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let v = 1; v < logits!.length; v++) if (logits![v]! > logits![best]!) best = v;
    out.push(best);
    if (i + 1 < n) [logits] = model.forwardSync([{ seq, tokens: [best] }]);
  }
  model.releaseSequence(seq);
  return out;
}

/** max |a - b| / max |b|. */
function relativeError(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let scale = 0;
  let err = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
  }
  return err / scale;
}

const lora = (dirs: string[]): ReturnType<typeof loadAdapters>["lora"] => loadAdapters(dirs, cfg).lora;
const merged = (dirs: string[]): EagerModelOptions => ({ edit: mergeLora(lora(dirs)) });
const unmerged = (dirs: string[]): EagerModelOptions => ({ unmergedLora: unmergedLora(lora(dirs)) });

const updates1 = randomUpdates(cfg, { rank: 4, seed: 11 });
const updates2 = randomUpdates(cfg, { rank: 4, seed: 12, suffixes: ["q_proj", "v_proj", "down_proj"] });
const dirs = {
  peft1: path.join(tmp.dir, "peft1"),
  paddle1: path.join(tmp.dir, "paddle1"),
  peft2: path.join(tmp.dir, "peft2"),
  sum: path.join(tmp.dir, "sum"),
  zero: path.join(tmp.dir, "zero"),
};

before(async () => {
  writePeftLora({ dir: dirs.peft1, cfg, rank: 4, alpha: 8, updates: updates1 });
  writePaddleLora({ dir: dirs.paddle1, cfg, rank: 4, alpha: 8, updates: updates1, shards: 2 });
  writePeftLora({ dir: dirs.peft2, cfg, rank: 4, alpha: 8, updates: updates2 });
  writePeftLora({ dir: dirs.zero, cfg, rank: 4, alpha: 8, updates: updates1.map((u) => ({ ...u, b: new Float32Array(u.b.length) })) });
  // Adapter 1 + adapter 2 as one rank-8 adapter: A stacked [A1; A2], B side by side [B1 | B2], alpha doubled so the scaling stays 2.
  const second = new Map(updates2.map((u) => [u.module, u]));
  const sum: LoraUpdate[] = updates1.map((u1) => {
    const u2 = second.get(u1.module);
    const inF = u1.a.length / 4;
    const out = u1.b.length / 4;
    const a = new Float32Array(8 * inF);
    a.set(u1.a);
    a.set(u2?.a ?? new Float32Array(4 * inF), 4 * inF);
    const b = new Float32Array(out * 8);
    for (let o = 0; o < out; o++) {
      b.set(u1.b.subarray(4 * o, 4 * o + 4), 8 * o);
      if (u2 !== undefined) b.set(u2.b.subarray(4 * o, 4 * o + 4), 8 * o + 4);
    }
    return { module: u1.module, a, b };
  });
  writePeftLora({ dir: dirs.sum, cfg, rank: 8, alpha: 16, updates: sum });
  await withModel({}, (m) => {
    base.logits = logitsOf(m, PROMPT);
    base.greedy = greedy(m, PROMPT, 8);
  });
});

test("merged and unmerged LoRA give the same logits (1e-4 relative), and the adapter changes the greedy output", async () => {
  const [m, u, g] = await withModel(merged([dirs.peft1]), async (mm) => {
    const mergedLogits = logitsOf(mm, PROMPT);
    const g = greedy(mm, PROMPT, 8);
    return [mergedLogits, await withModel(unmerged([dirs.peft1]), (um) => logitsOf(um, PROMPT)), g] as const;
  });
  assert.ok(relativeError(u, m) < 1e-4, `unmerged vs merged: ${relativeError(u, m)}`);
  assert.ok(relativeError(m, base.logits) > 1e-2, "the adapter changes the logits");
  assert.notDeepEqual(g, base.greedy);
});

test("the PEFT and PaddleNLP encodings of one adapter give the same logits", async () => {
  const peft = await withModel(merged([dirs.peft1]), (m) => logitsOf(m, PROMPT));
  const paddle = await withModel(merged([dirs.paddle1]), (m) => logitsOf(m, PROMPT));
  assert.deepEqual(paddle, peft);
  const paddleUnmerged = await withModel(unmerged([dirs.paddle1]), (m) => logitsOf(m, PROMPT));
  assert.ok(relativeError(paddleUnmerged, peft) < 1e-4);
});

test("a zero adapter changes nothing, merged or not", async () => {
  assert.deepEqual(await withModel(merged([dirs.zero]), (m) => logitsOf(m, PROMPT)), base.logits);
  assert.deepEqual(await withModel(unmerged([dirs.zero]), (m) => logitsOf(m, PROMPT)), base.logits);
});

test("two stacked adapters equal their sum as one adapter", async () => {
  const sum = await withModel(merged([dirs.sum]), (m) => logitsOf(m, PROMPT));
  const stackedMerged = await withModel(merged([dirs.peft1, dirs.peft2]), (m) => logitsOf(m, PROMPT));
  const stackedUnmerged = await withModel(unmerged([dirs.paddle1, dirs.peft2]), (m) => logitsOf(m, PROMPT));
  const first = await withModel(merged([dirs.peft1]), (m) => logitsOf(m, PROMPT));
  assert.ok(relativeError(stackedMerged, sum) < 1e-4, `merged: ${relativeError(stackedMerged, sum)}`);
  assert.ok(relativeError(stackedUnmerged, sum) < 1e-4, `unmerged: ${relativeError(stackedUnmerged, sum)}`);
  assert.ok(relativeError(first, sum) > 1e-2, "the second adapter matters");
});

/** The cached keys and values of positions [0, n) of a sequence, as a prefix. */
function cacheOf(model: EagerModel, seq: SequenceCache, n: number): PrefixCache {
  const kvDim = cfg.numKvHeads * cfg.headDim;
  const keys: Float32Array[] = [];
  const values: Float32Array[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const k = new Float32Array(n * kvDim);
    const v = new Float32Array(n * kvDim);
    for (const s of model.cache.segments(seq, l, n)) {
      k.set(s.keys.subarray(s.row * kvDim, (s.row + s.count) * kvDim), s.start * kvDim);
      v.set(s.values.subarray(s.row * kvDim, (s.row + s.count) * kvDim), s.start * kvDim);
    }
    keys.push(k);
    values.push(v);
  }
  return { length: n, keys, values };
}

test("a prefix equal to a real prompt's keys and values gives that prompt's logits, from PEFT and PaddleNLP files", async () => {
  const head = PROMPT.slice(0, 6);
  const tail = PROMPT.slice(6);
  const prefix = await withModel({}, (m) => {
    const seq = m.createSequence();
    m.forwardSync([{ seq, tokens: head }]);
    const p = cacheOf(m, seq as SequenceCache, head.length);
    m.releaseSequence(seq);
    return p;
  });
  const vocab = cfg.vocabSize;
  const expected = base.logits.subarray(head.length * vocab);
  const peft = path.join(tmp.dir, "prompt-peft");
  const npy = path.join(tmp.dir, "prompt-npy");
  const weights = path.join(tmp.dir, "prompt-weights");
  writePeftPrefix({ dir: peft, cfg, prefix });
  writePaddlePrefix({ dir: npy, cfg, encoder: { kind: "embedding", prefix }, weights: false });
  writePaddlePrefix({ dir: weights, cfg, encoder: { kind: "embedding", prefix }, preCaches: false });
  for (const dir of [peft, npy, weights]) {
    const loaded = loadAdapters([dir], cfg).prefix!;
    const got = await withModel({ prefix: loaded }, (m) => {
      assert.equal(m.prefixLength, head.length);
      return logitsOf(m, tail);
    });
    assert.ok(relativeError(got, expected) < 1e-4, `${path.basename(dir)}: ${relativeError(got, expected)}`);
  }
  // Block attention: the prefix spans two blocks of 4 positions.
  const paged = await withModel({ prefix: loadAdapters([peft], cfg).prefix!, cache: { kind: "paged", blockSize: 4 } }, (m) => logitsOf(m, tail));
  assert.ok(relativeError(paged, expected) < 1e-4, `paged: ${relativeError(paged, expected)}`);
});

test("a random prefix changes the output; with a zero LoRA beside it, nothing more changes", async () => {
  const dir = path.join(tmp.dir, "random-prefix");
  writePaddlePrefix({ dir, cfg, encoder: { kind: "embedding", prefix: randomPrefix(cfg, 4, 21, 2) } });
  const adapters = loadAdapters([dir, dirs.zero], cfg);
  const alone = await withModel({ prefix: adapters.prefix! }, (m) => [logitsOf(m, PROMPT), greedy(m, PROMPT, 8)] as const);
  const withZero = await withModel({ prefix: adapters.prefix!, edit: mergeLora(adapters.lora) }, (m) => logitsOf(m, PROMPT));
  assert.ok(relativeError(alone[0], base.logits) > 1e-2);
  assert.notDeepEqual(alone[1], base.greedy);
  assert.deepEqual(withZero, alone[0]);
});

test("the eager model refuses an unmerged LoRA for a module it does not have, or of the wrong size", async () => {
  const [layer] = lora([dirs.peft1]);
  const bad = (u: Record<string, unknown>): EagerModelOptions => ({ unmergedLora: [{ ...unmergedLora([layer!])[0]!, ...u }] });
  await assert.rejects(loadEagerModel(modelDir, { threads: 1, ...bad({ module: "model.layers.5.self_attn.q_proj" }) }), /unmerged LoRA for "model\.layers\.5\.self_attn\.q_proj": the model has no such linear layer/);
  await assert.rejects(loadEagerModel(modelDir, { threads: 1, ...bad({ module: "lm_head" }) }), /unmerged LoRA for "lm_head": the model has no such linear layer/);
  await assert.rejects(loadEagerModel(modelDir, { threads: 1, ...bad({ rank: 3 }) }), /unmerged LoRA for "model\.layers\.0\.self_attn\.q_proj": a \[3, 64\] and b \[64, 3\] need 192 and 192 elements, got 256 and 256/);
  const p = randomPrefix(cfg, 2, 1);
  await assert.rejects(loadEagerModel(modelDir, { threads: 1, prefix: { ...p, keys: p.keys.slice(1) } }), /prefix: 1 layers of keys and 2 of values, the model has 2 layers/);
  await assert.rejects(loadEagerModel(modelDir, { threads: 1, prefix: { ...p, length: 3 } }), /prefix: layer 0 keys hold 64 floats, \[length 3, kv_heads\*head_dim 32\] needs 96/);
});
