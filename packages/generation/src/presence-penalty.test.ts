import { test } from "node:test";
import assert from "node:assert/strict";
import { presencePenaltyProcessor } from "./presence-penalty.js";

test("presence penalty subtracts once per distinct generated token", () => {
  const row = new Float32Array([1, 1, 1, 1]);
  // Prompt [3, 3], then generated 0, 0, 2.
  presencePenaltyProcessor(0.5)(row, [3, 3, 0, 0, 2], 2);
  assert.deepEqual(Array.from(row), [0.5, 1, 0.5, 1]);
});

test("a negative presence penalty favours generated tokens; the prompt never counts", () => {
  const row = new Float32Array([0, 0, 0]);
  presencePenaltyProcessor(-1)(row, [1, 2], 1);
  assert.deepEqual(Array.from(row), [0, 0, 1]);
  const untouched = new Float32Array([0, 0, 0]);
  presencePenaltyProcessor(2)(untouched, [0, 1, 2], 3);
  assert.deepEqual(Array.from(untouched), [0, 0, 0]);
});

test("presence penalty outside [-2, 2] is rejected", () => {
  assert.throws(() => presencePenaltyProcessor(2.5), { message: "presence_penalty must be in [-2, 2] (0 turns it off), got 2.5" });
});
