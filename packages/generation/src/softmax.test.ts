import { test } from "node:test";
import assert from "node:assert/strict";
import { maxLogit, softmax } from "./softmax.js";

test("softmax sums to 1 and follows the logits", () => {
  const probs = softmax(new Float32Array([Math.log(1), Math.log(2), Math.log(5), -Infinity]));
  assert.ok(Math.abs(probs[0]! - 0.125) < 1e-7);
  assert.ok(Math.abs(probs[1]! - 0.25) < 1e-7);
  assert.ok(Math.abs(probs[2]! - 0.625) < 1e-7);
  assert.equal(probs[3], 0);
});

test("softmax is stable for large logits", () => {
  const probs = softmax(new Float32Array([1000, 1000]));
  assert.deepEqual(Array.from(probs), [0.5, 0.5]);
});

test("maxLogit rejects NaN, +Infinity and rows with nothing finite", () => {
  assert.equal(maxLogit(new Float32Array([-1, 3, -Infinity])), 3);
  assert.throws(() => maxLogit(new Float32Array([0, NaN])), /NaN at token id 1/);
  assert.throws(() => maxLogit(new Float32Array([0, Infinity])), /\+Infinity at token id 1/);
  assert.throws(() => maxLogit(new Float32Array([-Infinity, -Infinity])), /no finite entry \(row of 2\)/);
});
