import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogitsProcessor, createSampler, type DecodingOptions } from "./decoding.js";
import { greedy, sampleMultinomial } from "./samplers.js";

const run = (options: DecodingOptions, logits: number[], tokens: number[] = []): number[] => {
  const row = new Float32Array(logits);
  createLogitsProcessor(options)(row, tokens);
  return Array.from(row);
};

test("default options change nothing", () => {
  assert.deepEqual(run({}, [1, -2, 3]), [1, -2, 3]);
  assert.deepEqual(run({ decodeStrategy: "sampling" }, [1, -2, 3]), [1, -2, 3]);
});

test("the repetition penalty runs before the filters (Hugging Face order)", () => {
  // Penalised then tempered, the row is [2, 6]: top-k must see id 0 already
  // penalised, or it would keep id 0 (8 > 6) instead of id 1.
  const out = run({ decodeStrategy: "sampling", repetitionPenalty: 4, topK: 1, temperature: 0.5 }, [4, 3], [0]);
  assert.deepEqual(out, [-Infinity, 6]);
});

test("top-k and top-p filter the tempered row", () => {
  // After temperature 0.5 the row is [4, 2, 0, -2]; top-k 3 drops id 3;
  // top-p 0.5 then keeps only id 0 (its probability is above 0.5).
  const out = run({ decodeStrategy: "sampling", temperature: 0.5, topK: 3, topP: 0.5 }, [2, 1, 0, -1]);
  assert.deepEqual(out, [4, -Infinity, -Infinity, -Infinity]);
});

test("greedy search applies only the repetition penalty", () => {
  const out = run({ decodeStrategy: "greedy_search", repetitionPenalty: 2, temperature: 0.5, topK: 1, topP: 0.1 }, [4, 3, 1], [0]);
  assert.deepEqual(out, [2, 3, 1]);
});

test("every option is validated, whatever the strategy", () => {
  assert.throws(() => createLogitsProcessor({ topP: 1.5 }), { message: "top_p must be in (0, 1], got 1.5" });
  assert.throws(() => createLogitsProcessor({ temperature: 0 }), /temperature must be a finite number > 0, got 0/);
  assert.throws(() => createLogitsProcessor({ topK: -2 }), /top_k must be an integer >= 0/);
  assert.throws(() => createLogitsProcessor({ repetitionPenalty: -1 }), /repetition_penalty must be/);
  const beam = { decodeStrategy: "beam_search" } as unknown as DecodingOptions;
  assert.throws(() => createLogitsProcessor(beam), {
    message: 'decode_strategy must be "greedy_search" or "sampling", got "beam_search"',
  });
  assert.throws(() => createSampler(beam), /decode_strategy must be/);
});

test("createSampler picks greedy or multinomial", () => {
  assert.equal(createSampler({}), greedy);
  assert.equal(createSampler({ decodeStrategy: "greedy_search" }), greedy);
  assert.equal(createSampler({ decodeStrategy: "sampling" }), sampleMultinomial);
});

test("presence and frequency penalties apply in greedy search too, to generated tokens only", () => {
  // Prompt [1], generated [0, 0]: id 0 loses 0.5 (presence) + 2 * 1 (frequency).
  const row = new Float32Array([3, 2, 0]);
  createLogitsProcessor({ presencePenalty: 0.5, frequencyPenalty: 1 })(row, [1, 0, 0], 1);
  assert.deepEqual(Array.from(row), [0.5, 2, 0]);
});

test("min-p runs last, on the tempered row", () => {
  // Temperature 0.5 doubles the gaps: ln 4 below the top becomes ln 16, cut by min_p 0.1.
  const row = new Float32Array([Math.log(4), 0, Math.log(2)]);
  createLogitsProcessor({ decodeStrategy: "sampling", temperature: 0.5, minP: 0.1 })(row, []);
  assert.equal(row[1], -Infinity);
  assert.ok(Number.isFinite(row[0]!) && Number.isFinite(row[2]!));
  const greedyRow = new Float32Array([Math.log(4), 0, Math.log(2)]);
  createLogitsProcessor({ minP: 0.9 })(greedyRow, []);
  assert.ok(greedyRow.every(Number.isFinite), "greedy search leaves min-p out");
  assert.throws(() => createLogitsProcessor({ minP: 2 }), /min_p must be in \[0, 1\]/);
});
