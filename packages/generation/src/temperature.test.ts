import { test } from "node:test";
import assert from "node:assert/strict";
import { temperatureProcessor } from "./temperature.js";

test("temperature divides every logit", () => {
  const row = new Float32Array([2, -4, 0, -Infinity]);
  temperatureProcessor(0.5)(row, []);
  assert.deepEqual(Array.from(row), [4, -8, 0, -Infinity]);
});

test("temperature 1 leaves logits unchanged", () => {
  const row = new Float32Array([1.25, -3]);
  temperatureProcessor(1)(row, []);
  assert.deepEqual(Array.from(row), [1.25, -3]);
});

test("temperature must be finite and positive", () => {
  for (const bad of [0, -1, NaN, Infinity]) {
    assert.throws(() => temperatureProcessor(bad), {
      message: `temperature must be a finite number > 0, got ${bad}`,
    });
  }
});
