import test from "node:test";
import assert from "node:assert/strict";
import { argmax, maxRelativeError } from "./compare.js";

test("argmax: the first largest, of a whole array or of one row", () => {
  const rows = Float32Array.from([1, 5, 5, 0, /* row 1 */ 9, 2, 9, 3]);
  assert.equal(argmax(rows), 4);
  assert.equal(argmax(rows, 0, 4), 1, "ties go to the lowest index");
  assert.equal(argmax(rows, 4, 4), 0, "relative to the row's start");
});

test("maxRelativeError: the largest difference over the largest reference value", () => {
  assert.equal(maxRelativeError(Float32Array.from([1, 2, -4]), Float32Array.from([1, 2.5, -4])), 0.125);
  assert.equal(maxRelativeError(Float32Array.from([0]), Float32Array.from([0])), 0);
  assert.throws(() => maxRelativeError(new Float32Array(2), new Float32Array(3)), /length 2 vs 3/);
});
