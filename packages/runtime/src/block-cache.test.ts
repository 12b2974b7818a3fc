import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BlockCache } from "./block-cache.js";
import type { Prefix } from "./prefix.js";

const pools = { key: (l: number) => `key_cache.${l}`, value: (l: number) => `value_cache.${l}` };
const shape = { layers: 1, kvHeads: 2, headDim: 2, type: "float32" as const, pools, tables: "block_tables", blockSize: 4, maxPositions: 64 };

/** New KV [1, kv_heads=2, n, head_dim=2] whose values encode (head, position). */
function fresh(n: number, base: number) {
  const data = new Float32Array(2 * n * 2);
  for (let h = 0; h < 2; h++) for (let p = 0; p < n; p++) data.set([100 * h + base + p, 0], (h * n + p) * 2);
  return { data, width: n };
}

describe("the block KV cache", () => {
  it("sets blocks aside for allocated sequences and admits another only when its blocks are free", () => {
    const cache = new BlockCache({ ...shape, numBlocks: 6, prefix: null });
    assert.ok(cache.canAllocate(24) && !cache.canAllocate(25));
    const a = cache.open(10)!; // 3 blocks
    assert.equal(cache.available, 3);
    assert.equal(cache.open(13), null, "4 blocks do not fit in 3");
    const b = cache.open(12)!;
    assert.equal(cache.available, 0);
    cache.prepare([{ entry: a, positions: 10 }, { entry: b, positions: 5 }]);
    assert.equal(cache.available, 0, "taking promised blocks changes nothing");
    const c = cache.open(null)!;
    assert.throws(() => cache.prepare([{ entry: c, positions: 1 }]), /KV block pool exhausted: 1 more blocks of 4 positions needed, 0 of 6 free/);
    cache.close(a);
    assert.equal(cache.available, 3);
    cache.prepare([{ entry: c, positions: 1 }]);
    assert.equal(cache.available, 2);
    cache.close(b);
    cache.close(c);
    assert.equal(cache.available, 6);
    assert.throws(() => cache.close(c), /not held here/);
  });

  it("writes across block boundaries and feeds block tables over the longest row", () => {
    const cache = new BlockCache({ ...shape, numBlocks: 8, prefix: null });
    const other = cache.open(null)!;
    cache.prepare([{ entry: other, positions: 4 }]); // takes block 0, so a's blocks are 1, 2
    const a = cache.open(null)!;
    cache.prepare([{ entry: a, positions: 6 }]);
    cache.write(a, 0, "key", fresh(6, 10), 0, 0, 6, 0);
    const past = cache.past([{ entry: a, held: 6 }, { entry: other, held: 0 }]);
    assert.equal(past.width, 8);
    assert.deepEqual([...(past.feeds["block_tables"]!.data as BigInt64Array)], [1n, 2n, 0n, 0n]);
    const pool = past.feeds["key_cache.0"]!;
    assert.deepEqual(pool.dims, [8, 2, 4, 2]);
    assert.equal(cache.past([{ entry: other, held: 4 }]).feeds["key_cache.0"]!.data, pool.data, "the pool itself is fed: no copy per step");
    const value = (block: number, h: number, offset: number) => pool.data[((block * 2 + h) * 4 + offset) * 2];
    assert.deepEqual([value(1, 0, 0), value(1, 1, 3), value(2, 0, 1), value(2, 1, 1)], [10, 113, 15, 115]);
  });

  it("shares the prefix's whole blocks and copies the rest into each sequence's first block", () => {
    const prefix: Prefix = { length: 6, keys: [Float32Array.from({ length: 24 }, (_, i) => i)], values: [new Float32Array(24)] };
    const cache = new BlockCache({ ...shape, numBlocks: 5, prefix });
    assert.equal(cache.available, 4, "one block holds the shared prefix");
    assert.equal(cache.blocksFor(6), 1);
    const a = cache.open(8)!;
    const b = cache.open(null)!;
    assert.equal(cache.available, 2, "a's one block, promised, holds its prefix remainder; b took one");
    const past = cache.past([{ entry: a, held: 6 }, { entry: b, held: 6 }]);
    assert.deepEqual([...(past.feeds["block_tables"]!.data as BigInt64Array)], [0n, 1n, 0n, 2n]);
    const pool = past.feeds["key_cache.0"]!.data;
    // Head 1, prefix position 5 (element (1*6+5)*2 = 22 of the prefix) sits in block 1 (and 2), offset 1.
    assert.equal(pool[((1 * 2 + 1) * 4 + 1) * 2], 22);
    assert.equal(pool[((2 * 2 + 1) * 4 + 1) * 2], 22);
    assert.equal(pool[((0 * 2 + 1) * 4 + 3) * 2], 18, "head 1, position 3 in the shared block");
    cache.close(a);
    cache.close(b);
    assert.equal(cache.available, 4);
  });
});
