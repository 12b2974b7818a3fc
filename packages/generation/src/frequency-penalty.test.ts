import { test } from "node:test";
import assert from "node:assert/strict";
import { frequencyPenaltyProcessor } from "./frequency-penalty.js";

test("frequency penalty subtracts once per occurrence among the generated tokens", () => {
  const row = new Float32Array([2, 2, 2, 2]);
  // Prompt [1, 1, 1], then generated 0, 0, 0, 2.
  frequencyPenaltyProcessor(0.5)(row, [1, 1, 1, 0, 0, 0, 2], 3);
  assert.deepEqual(Array.from(row), [0.5, 2, 1.5, 2]);
});

test("without a prompt length every token counts", () => {
  const row = new Float32Array([0, 0]);
  frequencyPenaltyProcessor(-1)(row, [1, 1]);
  assert.deepEqual(Array.from(row), [0, 2]);
});

test("frequency penalty outside [-2, 2] is rejected", () => {
  assert.throws(() => frequencyPenaltyProcessor(-3), { message: "frequency_penalty must be in [-2, 2] (0 turns it off), got -3" });
});
