import { test } from "node:test";
import assert from "node:assert/strict";
import { topKProcessor } from "./top-k.js";

test("top_k keeps the k largest logits", () => {
  const row = new Float32Array([0.5, 3, -1, 2, 1]);
  topKProcessor(2)(row, []);
  assert.deepEqual(Array.from(row), [-Infinity, 3, -Infinity, 2, -Infinity]);
});

test("top_k keeps every token tied with the k-th logit", () => {
  const row = new Float32Array([1, 5, 1, 0, 1]);
  topKProcessor(2)(row, []);
  assert.deepEqual(Array.from(row), [1, 5, 1, -Infinity, 1]);
});

test("top_k 0 and top_k >= vocab leave the row unchanged", () => {
  for (const k of [0, 3, 10]) {
    const row = new Float32Array([1, -2, 3]);
    topKProcessor(k)(row, []);
    assert.deepEqual(Array.from(row), [1, -2, 3]);
  }
});

test("top_k 1 keeps the argmax", () => {
  const row = new Float32Array([0.1, 0.3, 0.2, -Infinity]);
  topKProcessor(1)(row, []);
  assert.deepEqual(Array.from(row), [-Infinity, 0.30000001192092896, -Infinity, -Infinity]);
});

test("top_k agrees with sorting on a large random row", () => {
  const row = new Float32Array(5000);
  let x = 12345;
  for (let i = 0; i < row.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    row[i] = (x % 1000) / 10;
  }
  const sorted = Array.from(row).sort((a, b) => b - a);
  const threshold = sorted[49]!;
  const expected = Array.from(row, (v) => (v >= threshold ? v : -Infinity));
  topKProcessor(50)(row, []);
  assert.deepEqual(Array.from(row), expected);
});

test("top_k must be a non-negative integer", () => {
  for (const bad of [-1, 1.5, NaN]) {
    assert.throws(() => topKProcessor(bad), {
      message: `top_k must be an integer >= 0 (0 turns it off), got ${bad}`,
    });
  }
});
