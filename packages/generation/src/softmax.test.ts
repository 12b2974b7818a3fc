import { test } from "node:test";
import assert from "node:assert/strict";
import { maxLogit, softmaxWeights } from "./softmax.js";

test("softmax weights are exp(logit - max), and their sum normalises them", () => {
  const weights = new Float64Array(4);
  const sum = softmaxWeights(new Float32Array([Math.log(1), Math.log(2), Math.log(5), -Infinity]), weights);
  const probs = Array.from(weights, (w) => w / sum);
  assert.ok(Math.abs(probs[0]! - 0.125) < 1e-7);
  assert.ok(Math.abs(probs[1]! - 0.25) < 1e-7);
  assert.ok(Math.abs(probs[2]! - 0.625) < 1e-7);
  assert.equal(probs[3], 0);
});

test("softmax weights are stable for large logits", () => {
  const weights = new Float64Array(2);
  assert.equal(softmaxWeights(new Float32Array([1000, 1000]), weights), 2);
  assert.deepEqual(Array.from(weights), [1, 1]);
});

test("maxLogit rejects NaN, +Infinity and rows with nothing finite", () => {
  assert.equal(maxLogit(new Float32Array([-1, 3, -Infinity])), 3);
  assert.throws(() => maxLogit(new Float32Array([0, NaN])), /NaN at token id 1/);
  assert.throws(() => maxLogit(new Float32Array([0, Infinity])), /\+Infinity at token id 1/);
  assert.throws(() => maxLogit(new Float32Array([-Infinity, -Infinity])), /no finite entry \(row of 2\)/);
  assert.throws(() => softmaxWeights(new Float32Array([NaN]), new Float64Array(1)), /NaN at token id 0/);
});
