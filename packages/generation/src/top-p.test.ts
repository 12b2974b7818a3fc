import { test } from "node:test";
import assert from "node:assert/strict";
import { topPProcessor } from "./top-p.js";

/** Logits whose softmax is `probs`. */
const fromProbs = (probs: number[]): Float32Array => new Float32Array(probs.map(Math.log));
const kept = (row: Float32Array): number[] =>
  Array.from(row.keys()).filter((i) => row[i] !== -Infinity);

test("top_p keeps tokens until their probability reaches top_p, the crossing one included", () => {
  const probs = [0.05, 0.5, 0.15, 0.3];
  const cases: [number, number[]][] = [
    [0.1, [1]],
    [0.5, [1]],
    [0.7, [1, 3]],
    [0.8, [1, 3]],
    [0.81, [1, 2, 3]],
    [0.96, [0, 1, 2, 3]],
  ];
  for (const [topP, expected] of cases) {
    const row = fromProbs(probs);
    topPProcessor(topP)(row, []);
    assert.deepEqual(kept(row), expected, `top_p ${topP}`);
  }
});

test("top_p keeps the kept logits unchanged", () => {
  const row = new Float32Array([2, 1, -3]);
  topPProcessor(0.9)(row, []);
  assert.deepEqual(Array.from(row), [2, 1, -Infinity]);
});

test("top_p always keeps at least the most likely token", () => {
  const row = fromProbs([0.2, 0.6, 0.2]);
  topPProcessor(1e-9)(row, []);
  assert.deepEqual(kept(row), [1]);
});

test("top_p breaks ties by lower token id", () => {
  const row = new Float32Array([0, 1, 1, 1]);
  topPProcessor(0.25)(row, []);
  assert.deepEqual(kept(row), [1]);
  const row2 = new Float32Array([0, 1, 1, 1]);
  topPProcessor(0.5)(row2, []);
  assert.deepEqual(kept(row2), [1, 2]);
});

test("top_p 1 leaves the row unchanged, filtered tokens stay filtered", () => {
  const row = new Float32Array([1, -Infinity, 0]);
  topPProcessor(1)(row, []);
  assert.deepEqual(Array.from(row), [1, -Infinity, 0]);
  topPProcessor(0.99)(row, []);
  assert.deepEqual(kept(row), [0, 2]);
});

test("top_p agrees with a full sort on large random rows", () => {
  let x = 987654321;
  const random = (): number => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 4294967296;
  };
  for (const [scale, quantum, topP] of [
    [1, 0, 0.7],
    [8, 0, 0.9],
    [30, 0, 0.5],
    [4, 0.25, 0.7],
    [0.01, 0, 0.3],
  ] as const) {
    const row = new Float32Array(20000);
    for (let i = 0; i < row.length; i++) {
      const v = (random() * 2 - 1) * scale;
      row[i] = quantum > 0 ? Math.round(v / quantum) * quantum : v;
    }
    const expected = referenceNucleus(row, topP);
    topPProcessor(topP)(row, []);
    assert.deepEqual(kept(row), expected, `scale ${scale} quantum ${quantum} top_p ${topP}`);
  }
});

test("top_p must be in (0, 1]", () => {
  for (const bad of [0, -0.1, 1.5, NaN]) {
    assert.throws(() => topPProcessor(bad), { message: `top_p must be in (0, 1], got ${bad}` });
  }
});

/** The plain definition: sort everything, accumulate normalized probabilities. */
function referenceNucleus(logits: Float32Array, topP: number): number[] {
  const order = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b);
  const max = logits[order[0]!]!;
  let total = 0;
  for (const v of logits) total += Math.exp(v - max);
  const keep: number[] = [];
  let cumulative = 0;
  for (const id of order) {
    if (cumulative >= topP) break;
    keep.push(id);
    cumulative += Math.exp(logits[id]! - max) / total;
  }
  return keep.sort((a, b) => a - b);
}
