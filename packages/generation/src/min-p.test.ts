import { test } from "node:test";
import assert from "node:assert/strict";
import { minPProcessor } from "./min-p.js";

test("min-p keeps tokens at least min_p times as likely as the top one", () => {
  // Logits ln([8, 4, 2, 1]): probabilities relative to the top are 1, 1/2, 1/4, 1/8.
  const row = new Float32Array([8, 4, 2, 1].map(Math.log));
  minPProcessor(0.2)(row, []);
  assert.deepEqual(
    Array.from(row, (x) => (x === -Infinity ? x : Math.round(Math.exp(x)))),
    [8, 4, 2, -Infinity],
  );
});

test("min-p 1 keeps only the tokens tied with the maximum", () => {
  const row = new Float32Array([3, 5, 5, -1]);
  minPProcessor(1)(row, []);
  assert.deepEqual(Array.from(row), [-Infinity, 5, 5, -Infinity]);
});

test("min-p 0 leaves the row unchanged; filtered tokens stay filtered", () => {
  const row = new Float32Array([3, -Infinity, -40]);
  minPProcessor(0)(row, []);
  assert.deepEqual(Array.from(row), [3, -Infinity, -40]);
});

test("min-p outside [0, 1] is rejected", () => {
  for (const bad of [-0.1, 1.5, NaN]) {
    assert.throws(() => minPProcessor(bad), { message: `min_p must be in [0, 1] (0 turns it off), got ${bad}` });
  }
});
