import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type AttentionSequence, type AttentionShape, type KvSegment, attentionReference } from "./attention.js";
import { type ComputePool, type DeviceBuffer, createComputePool } from "./pool.js";
import { randomFloats, rng } from "./testing.js";

/** A sequence's cache of `positions` random keys and values, laid out densely and in scattered blocks. */
interface Cache {
  readonly positions: number;
  readonly dense: KvSegment[];
  /** Blocks of `block` positions in reverse order of position, one free block between two used ones. */
  readonly paged: KvSegment[];
  readonly pagedMemory: number;
}

function makeCache(pool: ComputePool, random: () => number, kvDim: number, positions: number, block: number): Cache {
  const keys = randomFloats(random, positions * kvDim);
  const values = randomFloats(random, positions * kvDim);
  const dense = pool.allocBuffer(2 * positions * kvDim * 4);
  dense.f32.set(keys);
  dense.f32.set(values, positions * kvDim);
  const blocks = Math.ceil(positions / block);
  const slots = 2 * blocks; // every other slot used
  const paged = pool.allocBuffer(2 * slots * block * kvDim * 4);
  const pk = paged.f32.subarray(0, slots * block * kvDim);
  const pv = paged.f32.subarray(slots * block * kvDim);
  const segments: KvSegment[] = [];
  for (let b = 0; b < blocks; b++) {
    const start = b * block;
    const count = Math.min(block, positions - start);
    const row = (slots - 1 - 2 * b) * block;
    pk.set(keys.subarray(start * kvDim, (start + count) * kvDim), row * kvDim);
    pv.set(values.subarray(start * kvDim, (start + count) * kvDim), row * kvDim);
    segments.push({ keys: pk, values: pv, row, start, count });
  }
  return {
    positions,
    dense: [{ keys: dense.f32.subarray(0, positions * kvDim), values: dense.f32.subarray(positions * kvDim), row: 0, start: 0, count: positions }],
    paged: segments,
    pagedMemory: paged.memory,
  };
}

/** Largest |a - b| over two outputs. */
function maxError(a: Float32Array, b: Float32Array): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i]! - b[i]!));
  return e;
}

const SHAPES: AttentionShape[] = [
  { heads: 4, kvHeads: 2, headDim: 4, scale: 0.5 },
  { heads: 8, kvHeads: 4, headDim: 8, scale: 1 / Math.sqrt(8) },
  { heads: 3, kvHeads: 3, headDim: 20, scale: 1 / Math.sqrt(20) },
  { heads: 14, kvHeads: 2, headDim: 64, scale: 1 / 8 },
  { heads: 2, kvHeads: 1, headDim: 132, scale: 1 / Math.sqrt(132) },
];

/** (count, first): a decode step, a prefill, a chunk after some cached positions. */
const QUERIES: [number, number][] = [[1, 0], [1, 38], [19, 0], [6, 11]];

describe("attention", () => {
  let one: ComputePool;
  let two: ComputePool;
  before(async () => {
    one = await createComputePool({ threads: 1 });
    two = await createComputePool({ threads: 2 });
  });
  after(async () => {
    await one.dispose();
    await two.dispose();
  });

  test("matches the reference for dense and paged caches, GQA, decode and prefill, 1 and 2 threads", () => {
    const random = rng(1);
    for (const shape of SHAPES) {
      const qDim = shape.heads * shape.headDim;
      const kvDim = shape.kvHeads * shape.headDim;
      for (const [count, first] of QUERIES) {
        for (const block of [1, 5, 16]) {
          const q = randomFloats(random, count * qDim, 2);
          const ref = new Float32Array(q.length);
          for (const pool of [one, two]) {
            const cache = makeCache(pool, random, kvDim, first + count, block);
            const label = `${shape.heads}/${shape.kvHeads} heads of ${shape.headDim}, ${count} queries from ${first}, blocks of ${block}, ${pool.threads} threads`;
            const dense: AttentionSequence[] = [{ row: 0, count, first, segments: cache.dense }];
            const paged: AttentionSequence[] = [{ row: 0, count, first, segments: cache.paged }];
            attentionReference(q, ref, shape, dense);
            const a = new Float32Array(q.length);
            const b = new Float32Array(q.length);
            pool.attention(q, a, shape, dense);
            pool.attention(q, b, shape, paged);
            // out is a weighted mean of values in [-1, 1]: f32 dot products and exp stay far below this
            assert.ok(maxError(a, ref) < 2e-6, `${label}: error ${maxError(a, ref)}`);
            assert.deepEqual(b, a, `${label}: paged and dense give the same bits`);
          }
        }
      }
    }
  });

  test("a batch of sequences gives each the bits it gets alone", () => {
    const random = rng(2);
    const shape = SHAPES[3]!;
    const qDim = shape.heads * shape.headDim;
    const kvDim = shape.kvHeads * shape.headDim;
    const parts: [number, number][] = [[7, 0], [1, 90], [3, 20], [1, 0]];
    const caches = parts.map(([count, first]) => makeCache(two, random, kvDim, first + count, 16));
    const rows = parts.reduce((n, [count]) => n + count, 0);
    const q = randomFloats(random, rows * qDim, 2);
    const batch: AttentionSequence[] = [];
    let row = 0;
    parts.forEach(([count, first], i) => {
      batch.push({ row, count, first, segments: i % 2 === 0 ? caches[i]!.dense : caches[i]!.paged });
      row += count;
    });
    const together = new Float32Array(q.length);
    two.attention(q, together, shape, batch);
    for (const s of batch) {
      const alone = new Float32Array(s.count * qDim);
      two.attention(q.subarray(s.row * qDim, (s.row + s.count) * qDim), alone, shape, [{ ...s, row: 0 }]);
      assert.deepEqual(together.subarray(s.row * qDim, (s.row + s.count) * qDim), alone);
    }
  });

  test("a scratch too small for every query at once splits the call into several jobs, with the same bits", async () => {
    const shape = SHAPES[3]!;
    const qDim = shape.heads * shape.headDim;
    const kvDim = shape.kvHeads * shape.headDim;
    // room for about 4 queries a job: the 19-query sequence is split across jobs
    const small = await createComputePool({ threads: 2, scratchBytes: 40_000 });
    try {
      const parts: [number, number][] = [[19, 0], [1, 40], [6, 11]];
      const bits: Float32Array[] = [];
      for (const pool of [two, small]) {
        const sequences: AttentionSequence[] = [];
        let row = 0;
        for (const [count, first] of parts) {
          sequences.push({ row, count, first, segments: makeCache(pool, rng(5 + row), kvDim, first + count, 16).paged });
          row += count;
        }
        const q = randomFloats(rng(7), row * qDim, 2);
        const out = new Float32Array(q.length);
        pool.attention(q, out, shape, sequences);
        bits.push(out);
      }
      assert.deepEqual(bits[1], bits[0]);
    } finally {
      await small.dispose();
    }
  });

  test("scores far apart, or all equal, give the softmax's limits without overflow", () => {
    const shape: AttentionShape = { heads: 1, kvHeads: 1, headDim: 4, scale: 1 };
    const kv = two.allocBuffer(2 * 3 * 4 * 4);
    const keys = kv.f32.subarray(0, 12);
    const values = kv.f32.subarray(12);
    keys.set([0, 0, 0, 0, 100, 0, 0, 0, -100, 0, 0, 0]);
    values.set([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
    const segments: KvSegment[] = [{ keys, values, row: 0, start: 0, count: 3 }];
    const out = new Float32Array(4);
    two.attention(Float32Array.of(10, 0, 0, 0), out, shape, [{ row: 0, count: 1, first: 2, segments }]);
    assert.deepEqual([...out], [2, 2, 2, 2], "exp(-1000) and exp(-2000) underflow to nothing next to exp(0)");
    two.attention(Float32Array.of(0, 5, 5, 5), out, shape, [{ row: 0, count: 1, first: 2, segments }]);
    for (const x of out) assert.ok(Math.abs(x - 2) < 1e-6, `equal scores average the values: ${x}`);
  });

  test("sequences in different memories run as one job per memory; one sequence must not span two", async () => {
    const random = rng(3);
    // 4 pages per memory, 1 of them scratch: each cache below fills most of a memory
    const pool = await createComputePool({ threads: 2, memoryBytes: 4 * 65536, scratchBytes: 65536 - 64 });
    try {
      const shape = SHAPES[1]!;
      const qDim = shape.heads * shape.headDim;
      const kvDim = shape.kvHeads * shape.headDim;
      const caches = [0, 1, 2].map(() => makeCache(pool, random, kvDim, 300, 16));
      assert.equal(new Set(caches.map((c) => c.pagedMemory)).size, 3, "three memories");
      const q = randomFloats(random, 3 * qDim, 2);
      const sequences = caches.map((c, i) => ({ row: i, count: 1, first: 299, segments: c.paged }));
      const out = new Float32Array(q.length);
      const ref = new Float32Array(q.length);
      pool.attention(q, out, shape, sequences);
      attentionReference(q, ref, shape, sequences);
      assert.ok(maxError(out, ref) < 2e-6, `error ${maxError(out, ref)}`);
      const mixed = [{ ...caches[0]!.paged[0]!, count: 16 }, { ...caches[1]!.dense[0]!, start: 16, count: 284 }];
      assert.throws(
        () => pool.attention(q.subarray(0, qDim), out.subarray(0, qDim), shape, [{ row: 0, count: 1, first: 299, segments: mixed }]),
        /sequence 0: its segments are in memories \d+ and \d+; one sequence's cache must be in one memory/,
      );
    } finally {
      await pool.dispose();
    }
  });

  test("errors name what was expected and what was found", async () => {
    const shape: AttentionShape = { heads: 2, kvHeads: 1, headDim: 4, scale: 1 };
    const kv: DeviceBuffer = two.allocBuffer(2 * 8 * 4 * 4);
    const segment: KvSegment = { keys: kv.f32.subarray(0, 32), values: kv.f32.subarray(32), row: 0, start: 0, count: 8 };
    const q = new Float32Array(8);
    const out = new Float32Array(8);
    const call = (s: Partial<AttentionShape>, seq: Partial<AttentionSequence>, o = out): void =>
      two.attention(q, o, { ...shape, ...s }, [{ row: 0, count: 1, first: 7, segments: [segment], ...seq }]);
    assert.throws(() => call({ headDim: 6 }, {}), /headDim must be a positive multiple of 4 .* got 6/);
    assert.throws(() => call({ kvHeads: 3 }, {}), /heads \(2\) must be a positive multiple of kvHeads \(3\)/);
    assert.throws(() => call({}, {}, new Float32Array(4)), /q and out must both be \[rows, 8\], got 8 and 4 floats/);
    assert.throws(() => call({}, { first: 8 }), /sequence 0: its segments cover positions \[0, 8\), the queries need \[0, 9\)/);
    assert.throws(() => call({}, { row: 1 }), /sequence 0: rows \[1, 2\) are not all in q's 1 rows/);
    assert.throws(() => call({}, { segments: [{ ...segment, start: 1 }] }), /segment 0 covers \[1, 9\), expected one starting at 0/);
    assert.throws(() => call({}, { segments: [{ ...segment, row: 1 }] }), /segment 0's rows \[1, 9\) run past its keys \(8 rows of 4\)/);
    const host = new Float32Array(32);
    assert.throws(
      () => call({}, { segments: [{ ...segment, keys: host }] }),
      /sequence 0, segment 0: keys and values must be views of buffers from this pool's allocBuffer/,
    );
    const small = await createComputePool({ threads: 2, scratchBytes: 1024 });
    try {
      const big = small.allocBuffer(2 * 400 * 4 * 4);
      const segments = [{ keys: big.f32.subarray(0, 1600), values: big.f32.subarray(1600), row: 0, start: 0, count: 400 }];
      assert.throws(
        () => small.attention(q, out, shape, [{ row: 0, count: 1, first: 399, segments }]),
        /attention: 1 segments over up to 400 positions leave no room for a query in PoolOptions.scratchBytes = 1024 \(it needs \d+\)/,
      );
    } finally {
      await small.dispose();
    }
  });
});
