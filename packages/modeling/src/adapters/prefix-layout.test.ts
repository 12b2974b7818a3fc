import assert from "node:assert/strict";
import { test } from "node:test";
import { randomPrefix, tinyConfig, uniform } from "./fixtures.js";
import {
  evaluatePaddleProjection,
  prefixFromPaddle,
  prefixFromPeft,
  prefixFromPreCaches,
  prefixToPaddle,
  prefixToPeft,
  prefixToPreCaches,
  type PrefixShape,
} from "./prefix-layout.js";

const shape: PrefixShape = { tokens: 3, layers: 2, kvHeads: 2, headDim: 4 };
const kvDim = shape.kvHeads * shape.headDim;
/** A prefix whose every element says where it is: 1000*layer + 100*kv + 10*position + (head*head_dim + d). */
function labelled(): { keys: Float32Array[]; values: Float32Array[]; length: number } {
  const part = (l: number, kv: number): Float32Array => Float32Array.from({ length: shape.tokens * kvDim }, (_, i) => 1000 * l + 100 * kv + 10 * Math.floor(i / kvDim) + (i % kvDim));
  return { length: shape.tokens, keys: [part(0, 0), part(1, 0)], values: [part(0, 1), part(1, 1)] };
}

test("PEFT's prompt_embeddings interleave key and value per layer: [k0 | v0 | k1 | v1] in each row", () => {
  const rows = prefixToPeft(labelled(), shape);
  const width = shape.layers * 2 * kvDim;
  // Row of position 2: layer 0 key, layer 0 value, layer 1 key, layer 1 value.
  assert.deepEqual([rows[2 * width], rows[2 * width + kvDim], rows[2 * width + 2 * kvDim], rows[2 * width + 3 * kvDim + 5]], [20, 120, 1020, 1125]);
  assert.deepEqual(prefixFromPeft(rows, shape), labelled());
});

test("PaddleNLP's encoder output puts every layer's keys before the values: [k0 | k1 | v0 | v1]", () => {
  const rows = prefixToPaddle(labelled(), shape);
  const width = shape.layers * 2 * kvDim;
  assert.deepEqual([rows[width], rows[width + kvDim], rows[width + 2 * kvDim], rows[width + 3 * kvDim + 7]], [10, 1010, 110, 1117]);
  assert.deepEqual(prefixFromPaddle(rows, shape), labelled());
});

test("pre_caches.npy is [layers, 2, kv_heads, tokens, head_dim]", () => {
  const npy = prefixToPreCaches(labelled(), shape);
  const at = (l: number, kv: number, h: number, p: number, d: number): number =>
    npy[(((l * 2 + kv) * shape.kvHeads + h) * shape.tokens + p) * shape.headDim + d]!;
  assert.equal(at(1, 0, 1, 2, 3), 1000 + 0 + 20 + (1 * 4 + 3));
  assert.equal(at(0, 1, 0, 1, 2), 100 + 10 + 2);
  assert.deepEqual(prefixFromPreCaches(npy, shape), labelled());
});

test("the three layouts of one prefix convert into each other", () => {
  const cfg = tinyConfig();
  const s: PrefixShape = { tokens: 5, layers: cfg.numLayers, kvHeads: cfg.numKvHeads, headDim: cfg.headDim };
  const p = randomPrefix(cfg, 5, 3);
  assert.deepEqual(prefixFromPaddle(prefixToPaddle(p, s), s), p);
  assert.deepEqual(prefixFromPreCaches(prefixToPreCaches(prefixFromPeft(prefixToPeft(p, s), s), s), s), p);
});

test("the projecting encoder is tanh(E W1 + b1) W2 + b2 with Paddle's [in, out] weights", () => {
  const s: PrefixShape = { tokens: 2, layers: 1, kvHeads: 1, headDim: 2 };
  // kv_dim 2, hidden 3, output 2*1*2 = 4.
  const embedding = new Float32Array([1, 0, 0, 2]);
  const w1 = new Float32Array([1, 0, -1, 0, 1, 1]); // [2, 3]
  const b1 = new Float32Array([0, 0.5, 0]);
  const w2 = uniform(12, 1, 7, 0); // [3, 4]
  const b2 = new Float32Array([1, 2, 3, 4]);
  const out = evaluatePaddleProjection({ embedding, w1, b1, w2, b2, hidden: 3 }, s);
  const h = [
    [Math.tanh(1), Math.tanh(0.5), Math.tanh(-1)],
    [Math.tanh(0), Math.tanh(2.5), Math.tanh(2)],
  ];
  for (let p = 0; p < 2; p++) {
    for (let j = 0; j < 4; j++) {
      const want = b2[j]! + h[p]![0]! * w2[j]! + h[p]![1]! * w2[4 + j]! + h[p]![2]! * w2[8 + j]!;
      assert.ok(Math.abs(out[p * 4 + j]! - want) < 1e-6, `row ${p} column ${j}: ${out[p * 4 + j]} vs ${want}`);
    }
  }
});
