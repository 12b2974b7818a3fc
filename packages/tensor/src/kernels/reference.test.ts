import assert from "node:assert/strict";
import { test } from "node:test";
import { type HostWeight, matmulReference, quantizeRowQ8 } from "./reference.js";

test("quantizeRowQ8 maps each block's max to ±127 and an all-zero block to scale 0", () => {
  const src = new Float32Array([0.5, -1, 0.25, 0, 0, 0, 0, 0, 3, 1.5, -3, 0.01, 0, 0, 0, 0]);
  const q = new Int8Array(16);
  const scales = new Float32Array(2);
  quantizeRowQ8(src, 8, q, scales);
  assert.deepEqual(Array.from(q.subarray(0, 3)), [64, -127, 32]); // 63.5 rounds to the even 64
  assert.deepEqual(Array.from(q.subarray(8, 12)), [127, 64, -127, 0]);
  assert.deepEqual(Array.from(scales), [Math.fround(1 / 127), Math.fround(3 / 127)]);
  const zeros = new Int8Array(8);
  const zeroScale = new Float32Array(1);
  quantizeRowQ8(new Float32Array(8), 8, zeros, zeroScale);
  assert.deepEqual([...zeros, ...zeroScale], new Array(9).fill(0));
});

test("matmulReference computes x · Wᵀ + bias for a hand-checked q8 case", () => {
  const w: HostWeight = {
    format: "q8",
    rows: 2,
    cols: 8,
    blockSize: 8,
    data: new Uint8Array(new Int8Array([1, 2, 3, 4, 5, 6, 7, 8, -1, -1, -1, -1, -1, -1, -1, -1]).buffer),
    scales: new Float32Array([0.5, 2]),
  };
  const x = new Float32Array([1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 2]);
  const out = new Float32Array(4);
  matmulReference(x, 2, w, out, new Float32Array([10, 20]));
  assert.deepEqual(Array.from(out), [10 + 18, 20 - 16, 10 + 0.5 + 8, 20 - 2 - 4]);
});
