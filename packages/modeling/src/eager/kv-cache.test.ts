import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { type ComputePool, createComputePool } from "@oar/tensor";
import { denseKvCache, pagedKvCache, type KvCache, type SequenceCache } from "./kv-cache.js";

const shape = { layers: 2, kvDim: 3, maxPositions: 200 };
let pool: ComputePool;
before(async () => {
  pool = await createComputePool({ threads: 1 });
});
after(() => pool.dispose());

/** Reads positions [0, end) of a layer back through the segments, as attention does. */
function readBack(cache: KvCache, seq: SequenceCache, layer: number, end: number): number[] {
  const out: number[] = [];
  for (const s of cache.segments(seq, layer, end)) {
    for (let j = 0; j < s.count; j++) {
      for (let d = 0; d < cache.kvDim; d++) out.push(s.keys[(s.row + j) * cache.kvDim + d]!, s.values[(s.row + j) * cache.kvDim + d]!);
    }
  }
  return out;
}

function fill(cache: KvCache, seq: SequenceCache, n: number, tag: number): void {
  cache.reserve(seq, n);
  const k = new Float32Array(n * cache.kvDim);
  const v = new Float32Array(n * cache.kvDim);
  for (let i = 0; i < k.length; i++) {
    k[i] = tag * 1000 + seq.length * cache.kvDim + i;
    v[i] = -k[i]!;
  }
  for (let l = 0; l < shape.layers; l++) cache.write(seq, l, seq.length, n, k, v, 0);
  seq.length += n;
}

test("dense and paged caches hold the same positions, written in uneven steps, across dense growth", () => {
  const dense = denseKvCache(pool, shape);
  const paged = pagedKvCache(pool, { ...shape, blockSize: 4, numBlocks: 50 });
  const a = dense.create();
  const b = paged.create();
  for (const n of [5, 1, 1, 7, 3, 60, 1, 90]) {
    fill(dense, a, n, 1);
    fill(paged, b, n, 1);
    for (let l = 0; l < shape.layers; l++) assert.deepEqual(readBack(paged, b, l, a.length), readBack(dense, a, l, a.length));
  }
  assert.equal(dense.segments(a, 0, a.length).length, 1);
  assert.equal(paged.segments(b, 0, 17).length, 5);
  dense.release(a);
  paged.release(b);
});

test("the dense cache grows in chunks and gives its buffer back on release", () => {
  const dense = denseKvCache(pool, shape);
  const a = dense.create();
  fill(dense, a, 10, 1);
  assert.equal(dense.bytesAllocated(), 64 * 3 * 4 * 2 * 2);
  fill(dense, a, 60, 1);
  assert.equal(dense.bytesAllocated(), 128 * 3 * 4 * 2 * 2);
  fill(dense, a, 100, 1);
  assert.equal(dense.bytesAllocated(), 200 * 3 * 4 * 2 * 2);
  dense.release(a);
  assert.equal(dense.bytesAllocated(), 0);
  assert.throws(() => dense.segments(a, 0, 1), /not held by this cache/);
});

test("paged cache: blocks follow the tokens held, come back on release, and run out clearly", () => {
  const paged = pagedKvCache(pool, { ...shape, blockSize: 4, numBlocks: 5 });
  const a = paged.create();
  fill(paged, a, 9, 1);
  assert.equal(paged.bytesAllocated(), 3 * 4 * 3 * 4 * 2 * 2);
  assert.equal(paged.canAllocate(8), true);
  assert.equal(paged.canAllocate(9), false);
  const b = paged.create();
  fill(paged, b, 8, 2);
  assert.throws(() => fill(paged, b, 1, 2), /KV block pool exhausted: 1 more blocks of 4 needed, 0 of 5 free/);
  const before = readBack(paged, b, 1, 8);
  paged.release(a);
  assert.equal(paged.canAllocate(12), true);
  assert.deepEqual(readBack(paged, b, 1, 8), before);
  assert.throws(() => paged.segments(a, 0, 1), /not held by this cache/);
});

test("dense cache refuses positions past maxPositions", () => {
  const dense = denseKvCache(pool, shape);
  const a = dense.create();
  assert.equal(dense.canAllocate(201), false);
  assert.throws(() => dense.reserve(a, 201), /201 positions exceeds the model's 200/);
});
