import { test } from "node:test";
import assert from "node:assert/strict";
import { composeProcessors, type LogitsProcessor } from "./logits-processor.js";

test("composeProcessors runs processors in order on the same row", () => {
  const addOne: LogitsProcessor = (logits) => {
    for (let i = 0; i < logits.length; i++) logits[i]! += 1;
  };
  const double: LogitsProcessor = (logits) => {
    for (let i = 0; i < logits.length; i++) logits[i]! *= 2;
  };
  const row = new Float32Array([1, 2]);
  composeProcessors([addOne, double])(row, []);
  assert.deepEqual(Array.from(row), [4, 6]);
});

test("composeProcessors passes the sequence to every processor", () => {
  const seen: (readonly number[])[] = [];
  const record: LogitsProcessor = (_logits, tokens) => {
    seen.push(tokens);
  };
  composeProcessors([record, record])(new Float32Array(1), [5, 6]);
  assert.deepEqual(seen, [
    [5, 6],
    [5, 6],
  ]);
});

test("an empty composition leaves the row unchanged", () => {
  const row = new Float32Array([3, -1]);
  composeProcessors([])(row, []);
  assert.deepEqual(Array.from(row), [3, -1]);
});
