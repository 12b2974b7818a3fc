import { test } from "node:test";
import assert from "node:assert/strict";
import { createRng } from "./rng.js";
import { greedy, sampleMultinomial } from "./samplers.js";

test("greedy picks the argmax, ties to the lowest id", () => {
  const rng = createRng(0);
  assert.equal(greedy(new Float32Array([0, 3, 1]), rng), 1);
  assert.equal(greedy(new Float32Array([2, 5, 5, 5]), rng), 1);
  assert.equal(greedy(new Float32Array([-Infinity, -7, -Infinity]), rng), 1);
});

test("greedy rejects NaN and rows with nothing finite", () => {
  const rng = createRng(0);
  assert.throws(() => greedy(new Float32Array([1, NaN]), rng), /NaN at token id 1/);
  assert.throws(() => greedy(new Float32Array([-Infinity]), rng), /no finite entry/);
});

test("sampling follows the distribution", () => {
  const rng = createRng(3);
  const logits = new Float32Array([Math.log(0.1), Math.log(0.6), Math.log(0.3)]);
  const counts = [0, 0, 0];
  const n = 30000;
  for (let i = 0; i < n; i++) counts[sampleMultinomial(logits, rng)]!++;
  const freqs = counts.map((c) => c / n);
  for (const [i, p] of [0.1, 0.6, 0.3].entries()) {
    assert.ok(Math.abs(freqs[i]! - p) < 0.015, `token ${i}: ${freqs[i]} vs ${p}`);
  }
});

test("sampling never draws a filtered token", () => {
  const rng = createRng(5);
  const logits = new Float32Array([-Infinity, 0, -Infinity, 0, -Infinity]);
  for (let i = 0; i < 2000; i++) {
    const id = sampleMultinomial(logits, rng);
    assert.ok(id === 1 || id === 3, `drew ${id}`);
  }
});

test("sampling with the same seed gives the same tokens", () => {
  const logits = new Float32Array(Array.from({ length: 50 }, (_, i) => Math.sin(i)));
  const draw = (seed: number): number[] => {
    const rng = createRng(seed);
    return Array.from({ length: 40 }, () => sampleMultinomial(logits, rng));
  };
  assert.deepEqual(draw(11), draw(11));
  assert.notDeepEqual(draw(11), draw(12));
});
