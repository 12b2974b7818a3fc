import { test } from "node:test";
import assert from "node:assert/strict";
import { tokenLogprobs } from "./logprobs.js";

test("log probabilities of a hand-made row: exact values, top tokens in order", () => {
  // Probabilities 0.5, 0.25, 0.125, 0.125.
  const row = new Float32Array([Math.log(4), Math.log(2), 0, 0]);
  const out = tokenLogprobs(row, 2, 3);
  assert.equal(out.tokenId, 2);
  assert.ok(Math.abs(out.logprob - Math.log(0.125)) < 1e-7);
  assert.deepEqual(out.top.map((t) => t.tokenId), [0, 1, 2], "ties go to the lower id");
  const expected = [0.5, 0.25, 0.125];
  out.top.forEach((t, i) => assert.ok(Math.abs(t.logprob - Math.log(expected[i]!)) < 1e-7));
});

test("top lists the k largest for any order of the row, and no more than the row holds", () => {
  const row = new Float32Array([0.1, 3, -2, 7, 3, 5, -Infinity]);
  assert.deepEqual(tokenLogprobs(row, 0, 4).top.map((t) => t.tokenId), [3, 5, 1, 4]);
  assert.equal(tokenLogprobs(row, 0, 0).top.length, 0);
  assert.equal(tokenLogprobs(row, 0, 20).top.length, 7);
  assert.equal(tokenLogprobs(row, 6, 1).logprob, -Infinity);
});

test("large logits do not overflow", () => {
  const row = new Float32Array([1000, 1000]);
  assert.ok(Math.abs(tokenLogprobs(row, 1, 1).logprob - Math.log(0.5)) < 1e-9);
});

test("a token outside the row is rejected", () => {
  assert.throws(() => tokenLogprobs(new Float32Array(3), 3, 0), { message: "logprobs: token id 3 is outside the vocabulary (3 ids)" });
});
