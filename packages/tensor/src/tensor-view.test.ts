import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TensorInfo } from "./tensor-source.js";
import { type ByteStore, type ViewLayout, contiguousStrides, fortranStrides, isContiguous, viewProblem, viewTensor } from "./tensor-view.js";

/** A storage of `n` u16 elements 0..n-1, counting its reads. */
function store(n: number): ByteStore & { reads: number } {
  const bytes = new Uint8Array(new Uint16Array(Array.from({ length: n }, (_, i) => i)).buffer);
  const s = {
    length: bytes.length,
    reads: 0,
    read: (position: number, target: Uint8Array) => {
      s.reads++;
      assert.ok(position >= 0 && position + target.length <= bytes.length, "reads stay inside the storage");
      target.set(bytes.subarray(position, position + target.length));
    },
  };
  return s;
}

/** The view's elements in row-major order, computed the slow way. */
function expected(layout: ViewLayout): number[] {
  const out: number[] = [];
  const walk = (d: number, at: number): void => {
    if (d === layout.shape.length) {
      out.push(at);
      return;
    }
    for (let i = 0; i < layout.shape[d]!; i++) walk(d + 1, at + i * layout.strides[d]!);
  };
  walk(0, layout.offset);
  return out;
}

function read(layout: ViewLayout, storageElements: number, first = 0, count?: number): number[] {
  const n = layout.shape.reduce((a, b) => a * b, 1);
  const info: TensorInfo = { name: "t", dtype: "bf16", shape: layout.shape, file: "f", byteOffset: 0, byteLength: n * 2 };
  const t = viewTensor(info, store(storageElements), layout, 2);
  const target = new Uint8Array((count ?? n - first) * 2);
  t.read(first * 2, target);
  return [...new Uint16Array(target.buffer)];
}

describe("tensor views", () => {
  it("reads contiguous views, offsets, transposes, Fortran order and broadcast-like zero strides in row-major order", () => {
    const layouts: ViewLayout[] = [
      { offset: 0, shape: [3, 4], strides: contiguousStrides([3, 4]) },
      { offset: 4, shape: [2, 4], strides: [4, 1] },
      { offset: 0, shape: [4, 3], strides: [1, 4] },
      { offset: 1, shape: [2, 3, 2], strides: [1, 4, 2] },
      { offset: 0, shape: [3, 4], strides: fortranStrides([3, 4]) },
      { offset: 5, shape: [3, 2], strides: [0, 1] },
      { offset: 7, shape: [], strides: [] },
    ];
    for (const l of layouts) assert.deepEqual(read(l, 40), expected(l).map((e) => e), JSON.stringify(l));
  });

  it("reads any run of a non-contiguous view's elements", () => {
    const l: ViewLayout = { offset: 2, shape: [5, 3], strides: [1, 7] };
    const all = expected(l);
    for (const [first, count] of [[0, 1], [4, 5], [13, 2], [0, 15]] as const) assert.deepEqual(read(l, 40, first, count), all.slice(first, first + count));
  });

  it("knows contiguity, ignoring the strides of size-1 dimensions", () => {
    assert.ok(isContiguous({ offset: 3, shape: [2, 3], strides: [3, 1] }));
    assert.ok(isContiguous({ offset: 0, shape: [1, 3], strides: [99, 1] }));
    assert.ok(!isContiguous({ offset: 0, shape: [2, 3], strides: [1, 2] }));
  });

  it("says why a view does not fit its storage", () => {
    assert.equal(viewProblem({ offset: 4, shape: [2, 4], strides: [4, 1] }, 12), null);
    assert.match(viewProblem({ offset: 5, shape: [2, 4], strides: [4, 1] }, 12)!, /reach element 12, past the end of its 12-element storage/);
    assert.match(viewProblem({ offset: 1000, shape: [4], strides: [1] }, 4)!, /storage offset 1000, shape \[4\] and strides \[1\] reach element 1003/);
    assert.match(viewProblem({ offset: 0, shape: [2, 2], strides: [1] }, 4)!, /differ in length/);
    assert.match(viewProblem({ offset: 0, shape: [-1], strides: [1] }, 4)!, /must be non-negative integers/);
    assert.match(viewProblem({ offset: 0, shape: [2 ** 30, 2 ** 30], strides: [1, 1] }, 4)!, /more than 2\^53 elements|reach element/);
    assert.equal(viewProblem({ offset: 4, shape: [0, 5], strides: [5, 1] }, 4), null, "an empty view may sit at the end");
  });
});
