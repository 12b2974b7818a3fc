import { test } from "node:test";
import assert from "node:assert/strict";
import { generate } from "./generate.js";
import { generateBatch } from "./scheduler.js";
import { FakeCausalLM, fakeGreedy, fakeText, fakeTextStream } from "./testing/fake-causal-lm.js";

test("generate completes one prompt like the plain greedy loop", async () => {
  const model = new FakeCausalLM();
  const result = await generate(model, { tokens: [4, 8, 15, 16, 23, 42] }, {
    maxNewTokens: 20,
    eosTokenIds: [62, 63],
    createTextStream: () => fakeTextStream([62, 63]),
  });
  const expected = fakeGreedy([4, 8, 15, 16, 23, 42], { maxNewTokens: 20, eosTokenIds: [62, 63] });
  assert.deepEqual(result.tokens, expected);
  assert.equal(result.text, fakeText(expected));
  assert.equal(result.request, 0);
  assert.deepEqual(model.liveIds(), []);
  assert.equal(model.released.length, 1);
});

test("generate samples what request 0 of a batch samples", async () => {
  const options = { maxNewTokens: 15, decodeStrategy: "sampling", temperature: 1.3, topK: 20, repetitionPenalty: 1.2, seed: 7 } as const;
  const prompts = [[1, 2, 3], [9], [30, 31]];
  const batch = await generateBatch(new FakeCausalLM(), prompts.map((tokens) => ({ tokens })), { ...options, batchSize: 3 });
  const alone = await generate(new FakeCausalLM(), { tokens: prompts[0]! }, options);
  assert.deepEqual(alone.tokens, batch.results[0]!.tokens);
  const third = await generate(new FakeCausalLM(), { tokens: prompts[2]!, rngStream: 2 }, options);
  assert.deepEqual(third.tokens, batch.results[2]!.tokens);
});

test("the repetition penalty changes greedy output", async () => {
  const prompt = { tokens: [1, 2, 3] };
  const plain = await generate(new FakeCausalLM({ vocabSize: 8 }), prompt, { maxNewTokens: 30 });
  const penalised = await generate(new FakeCausalLM({ vocabSize: 8 }), prompt, { maxNewTokens: 30, repetitionPenalty: 3 });
  assert.notDeepEqual(penalised.tokens, plain.tokens);
});
