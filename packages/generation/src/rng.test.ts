import { test } from "node:test";
import assert from "node:assert/strict";
import { createRng, xoshiro128ss } from "./rng.js";

test("xoshiro128** matches the reference C implementation", () => {
  // From xoshiro128starstar.c with s = {1, 2, 3, 4}.
  const rng = xoshiro128ss([1, 2, 3, 4]);
  const got = Array.from({ length: 6 }, () => rng.nextUint32());
  assert.deepEqual(got, [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
});

test("the same seed and stream give the same numbers", () => {
  const a = createRng(42, 3);
  const b = createRng(42, 3);
  for (let i = 0; i < 100; i++) assert.equal(a.nextUint32(), b.nextUint32());
});

test("numbers for a fixed seed never change across runs and platforms", () => {
  const rng = createRng(42, 0);
  const got = Array.from({ length: 4 }, () => rng.nextUint32());
  assert.deepEqual(got, GOLDEN_SEED_42);
});

test("different seeds, streams and high seed bits give different numbers", () => {
  const first = (seed: number, stream: number): number[] => {
    const rng = createRng(seed, stream);
    return [rng.nextUint32(), rng.nextUint32()];
  };
  const seen = new Set<string>();
  for (const [seed, stream] of [
    [0, 0],
    [1, 0],
    [0, 1],
    [1, 1],
    [2 ** 32, 0],
    [2 ** 40 + 7, 0],
  ] as const) {
    seen.add(first(seed, stream).join(","));
  }
  assert.equal(seen.size, 6);
});

test("nextFloat is uniform in [0, 1)", () => {
  const rng = createRng(7);
  let sum = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const x = rng.nextFloat();
    assert.ok(x >= 0 && x < 1);
    sum += x;
  }
  assert.ok(Math.abs(sum / n - 0.5) < 0.01, `mean ${sum / n}`);
});

test("bad seeds and streams are rejected with the value", () => {
  assert.throws(() => createRng(-1), /seed must be a non-negative integer, got -1/);
  assert.throws(() => createRng(1.5), /seed must be a non-negative integer, got 1.5/);
  assert.throws(() => createRng(1, 2 ** 32), /stream must be an integer in \[0, 2\^32\), got 4294967296/);
});

const GOLDEN_SEED_42 = [2837322924, 2993153327, 479756282, 4228177242];
