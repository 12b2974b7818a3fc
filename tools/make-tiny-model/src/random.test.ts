import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { normalStream } from "./random.js";

const PINNED = ["0.616304", "-0.703644", "-0.959828", "0.781055"];

const draw = (seed: number, key: string, n: number): Float32Array => {
  const out = new Float32Array(n);
  normalStream(seed, key).fill(out, 0, 1);
  return out;
};

describe("normalStream", () => {
  it("is deterministic for a seed and key, and pinned to these values", () => {
    assert.deepEqual(draw(0, "w", 1000), draw(0, "w", 1000));
    // Pinned so that a change to the generator (which changes every checkpoint) is deliberate.
    assert.deepEqual([...draw(0, "model.norm.weight", 4)].map((x) => x.toFixed(6)), PINNED);
  });

  it("gives different streams for different seeds and keys", () => {
    assert.notDeepEqual(draw(0, "a", 16), draw(1, "a", 16));
    assert.notDeepEqual(draw(0, "a", 16), draw(0, "b", 16));
    assert.notDeepEqual(draw(2 ** 40, "a", 16), draw(0, "a", 16));
  });

  it("does not depend on how the stream is split into chunks (odd sizes included)", () => {
    const whole = draw(7, "k", 101);
    const s = normalStream(7, "k");
    const parts = [1, 2, 3, 30, 65].map((n) => {
      const a = new Float32Array(n);
      s.fill(a, 0, 1);
      return [...a];
    });
    assert.deepEqual(parts.flat(), [...whole]);
  });

  it("has mean 0 and variance 1, scaled by mean and std", () => {
    const n = 200_000;
    const x = draw(3, "stats", n);
    let sum = 0;
    let sq = 0;
    for (const v of x) {
      sum += v;
      sq += v * v;
    }
    assert.ok(Math.abs(sum / n) < 0.01, `mean ${sum / n}`);
    assert.ok(Math.abs(sq / n - 1) < 0.02, `variance ${sq / n}`);
    const y = new Float32Array(n);
    normalStream(3, "stats").fill(y, 5, 0.5);
    for (let i = 0; i < 100; i++) assert.ok(Math.abs(y[i]! - (5 + 0.5 * x[i]!)) < 1e-5);
  });

  it("refuses a bad seed", () => {
    assert.throws(() => normalStream(-1, "a"), /seed must be a non-negative integer, got -1/);
    assert.throws(() => normalStream(0.5, "a"), /got 0\.5/);
  });
});
