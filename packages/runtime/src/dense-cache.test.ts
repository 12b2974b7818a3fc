import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DenseCache } from "./dense-cache.js";
import type { Prefix } from "./prefix.js";

const names = { key: (l: number) => `past.${l}.key`, value: (l: number) => `past.${l}.value` };
const shape = { layers: 1, kvHeads: 2, headDim: 2, type: "float32" as const, past: names, maxPositions: 40 };

/** New KV [1, kv_heads=2, n, head_dim=2] whose values encode (head, position). */
function fresh(n: number, base: number) {
  const data = new Float32Array(2 * n * 2);
  for (let h = 0; h < 2; h++) for (let p = 0; p < n; p++) data.set([100 * h + base + p, -(100 * h + base + p)], (h * n + p) * 2);
  return { data, width: n };
}

/** Position `p` of head `h` of batch row `row` of a past feed [rows, 2, capacity, 2]. */
function at(feed: { data: Float32Array | Uint16Array | BigInt64Array; dims: readonly number[] }, row: number, h: number, p: number): number {
  const capacity = feed.dims[2]!;
  return Number(feed.data[((row * 2 + h) * capacity + p) * 2]);
}

describe("the dense KV cache", () => {
  it("gives each sequence the lowest free row, grows rows when full, and feeds the range of a run's rows", () => {
    const cache = new DenseCache({ ...shape, prefix: null, rows: 2, chunk: 4 });
    const [a, b, c] = [cache.open(null)!, cache.open(null)!, cache.open(null)!];
    assert.equal(cache.shape.rows, 4);
    cache.prepare([a, b, c].map((entry) => ({ entry, positions: 3 })));
    cache.write(a, 0, "key", fresh(3, 10), 0, 0, 3, 0);
    cache.write(c, 0, "key", fresh(3, 30), 0, 0, 3, 0);
    const past = cache.past([{ entry: c, held: 3 }, { entry: a, held: 3 }]);
    assert.deepEqual(past.rows, [1, -1, 0], "rows 0..2: a, a filler for b, c");
    const again = cache.past([{ entry: a, held: 3 }]);
    assert.equal(again.feeds["past.0.key"]!.data.buffer, past.feeds["past.0.key"]!.data.buffer, "feeds are views of one buffer: no copy per step");
    assert.equal(past.width, 4);
    const key = past.feeds["past.0.key"]!;
    assert.deepEqual(key.dims, [3, 2, 4, 2]);
    assert.equal(at(key, 0, 1, 2), 112);
    assert.equal(at(key, 2, 0, 1), 31);
    cache.close(b);
    assert.equal((cache.open(null) as unknown as { row: number }).row, 1, "the freed row is reused");
  });

  it("follows the longest sequence in chunks, keeping every position through growing and shrinking", () => {
    const cache = new DenseCache({ ...shape, prefix: null, rows: 2, chunk: 4 });
    const long = cache.open(null)!;
    const short = cache.open(null)!;
    cache.prepare([{ entry: long, positions: 10 }, { entry: short, positions: 2 }]);
    assert.equal(cache.shape.capacity, 12);
    cache.write(long, 0, "value", fresh(10, 0), 0, 0, 10, 0);
    cache.write(short, 0, "value", fresh(2, 50), 0, 0, 2, 0);
    cache.prepare([{ entry: short, positions: 3 }]);
    assert.equal(cache.shape.capacity, 12, "no change while the long one lives");
    cache.close(long);
    cache.prepare([{ entry: short, positions: 3 }]);
    assert.equal(cache.shape.capacity, 4, "shrinks once it is more than a chunk too big");
    assert.equal(cache.bytes(), 2 * 2 * 2 * 4 * 2 * 4);
    const v = cache.past([{ entry: short, held: 2 }]).feeds["past.0.value"]!;
    assert.deepEqual([at(v, 0, 0, 0), at(v, 0, 0, 1), at(v, 0, 1, 1)], [50, 51, 151]);
    assert.throws(() => cache.prepare([{ entry: short, positions: 41 }]), /41 positions exceeds the model's 40/);
    assert.throws(() => cache.past([{ entry: long, held: 10 }]), /not held here/);
  });

  it("writes the prefix into each new row and feeds new sequences the prefix repeated", () => {
    const prefix: Prefix = { length: 3, keys: [Float32Array.from({ length: 12 }, (_, i) => i + 1)], values: [new Float32Array(12).fill(9)] };
    const cache = new DenseCache({ ...shape, prefix, rows: 1, chunk: 4 });
    const a = cache.open(null)!;
    const b = cache.open(null)!;
    const first = cache.past([{ entry: a, held: 3 }, { entry: b, held: 3 }]);
    assert.equal(first.width, 3);
    assert.deepEqual(first.feeds["past.0.key"]!.dims, [2, 2, 3, 2]);
    assert.deepEqual([...first.feeds["past.0.key"]!.data.slice(12, 18)], [1, 2, 3, 4, 5, 6]);
    cache.prepare([{ entry: b, positions: 4 }]);
    cache.write(b, 0, "key", fresh(1, 70), 0, 0, 1, 3);
    const later = cache.past([{ entry: b, held: 4 }]);
    const key = later.feeds["past.0.key"]!;
    assert.deepEqual([0, 1, 2, 3].map((p) => at(key, 0, 1, p)), [7, 9, 11, 170]);
  });
});
