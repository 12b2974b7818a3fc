import assert from "node:assert/strict";
import { test } from "node:test";
import { weightLayout } from "./format.js";

test("weightLayout sizes each format and ignores blockSize outside q8", () => {
  assert.deepEqual(weightLayout({ format: "f32", rows: 3, cols: 5, blockSize: 32 }), {
    format: "f32", rows: 3, cols: 5, blockSize: 0, dataBytes: 60, scaleCount: 0, flush: 0,
  });
  assert.equal(weightLayout({ format: "bf16", rows: 3, cols: 5 }).dataBytes, 30);
  assert.equal(weightLayout({ format: "f16", rows: 3, cols: 5 }).dataBytes, 30);
  assert.deepEqual(weightLayout({ format: "q8", rows: 3, cols: 64 }), {
    format: "q8", rows: 3, cols: 64, blockSize: 32, dataBytes: 192, scaleCount: 6, flush: 32,
  });
});

test("q8 flushes its i32 sums at most 512 elements apart, on a divisor of the block", () => {
  assert.equal(weightLayout({ format: "q8", rows: 1, cols: 512, blockSize: 512 }).flush, 512);
  assert.equal(weightLayout({ format: "q8", rows: 1, cols: 896, blockSize: 896 }).flush, 448);
  assert.equal(weightLayout({ format: "q8", rows: 1, cols: 4864, blockSize: 4864 }).flush, 304);
  assert.equal(weightLayout({ format: "q8", rows: 1, cols: 8 * 67, blockSize: 8 * 67 }).flush, 8);
});

test("weightLayout rejects what the kernels cannot run, saying why", () => {
  assert.throws(() => weightLayout({ format: "q8", rows: 2, cols: 40 }), /multiple of blockSize: K = 40, blockSize = 32/);
  assert.throws(() => weightLayout({ format: "q8", rows: 2, cols: 48, blockSize: 12 }), /multiple of 8, got 12/);
  assert.throws(() => weightLayout({ format: "f32", rows: 2.5, cols: 4 }), /positive integers \[rows, cols\], got \[2.5, 4\]/);
  assert.throws(() => weightLayout({ format: "i4" as "q8", rows: 2, cols: 4 }), /one of f32, bf16, f16, q8, got i4/);
});
