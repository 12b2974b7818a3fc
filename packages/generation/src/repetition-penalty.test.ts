import { test } from "node:test";
import assert from "node:assert/strict";
import { repetitionPenaltyProcessor } from "./repetition-penalty.js";

test("repetition penalty divides positive and multiplies negative logits of seen tokens", () => {
  const row = new Float32Array([4, -4, 4, -4, 0]);
  repetitionPenaltyProcessor(2)(row, [0, 1, 4]);
  assert.deepEqual(Array.from(row), [2, -8, 4, -4, 0]);
});

test("a token repeated in the sequence is penalised once", () => {
  const row = new Float32Array([4, 1]);
  repetitionPenaltyProcessor(2)(row, [0, 0, 0]);
  assert.deepEqual(Array.from(row), [2, 1]);
});

test("a penalty below 1 favours seen tokens", () => {
  const row = new Float32Array([1, -1]);
  repetitionPenaltyProcessor(0.5)(row, [0, 1]);
  assert.deepEqual(Array.from(row), [2, -0.5]);
});

test("penalty 1 leaves the row unchanged", () => {
  const row = new Float32Array([3, -3]);
  repetitionPenaltyProcessor(1)(row, [0, 1]);
  assert.deepEqual(Array.from(row), [3, -3]);
});

test("a token outside the vocabulary is an error naming it", () => {
  assert.throws(() => repetitionPenaltyProcessor(1.1)(new Float32Array(3), [5]), /token id 5 is outside the vocabulary \(3 ids\)/);
});

test("repetition_penalty must be finite and positive", () => {
  for (const bad of [0, -1, NaN, Infinity]) {
    assert.throws(() => repetitionPenaltyProcessor(bad), {
      message: `repetition_penalty must be a finite number > 0 (1 turns it off), got ${bad}`,
    });
  }
});
