import { test } from "node:test";
import assert from "node:assert/strict";
import { measureRun } from "./metrics.js";
import type { BatchRun, GenerationResult } from "./scheduler.js";

const result = (request: number, promptTokens: number, newTokens: number): GenerationResult => ({
  request,
  tokens: Array(newTokens).fill(5),
  text: "",
  finishReason: "length",
  promptTokens,
  cachedTokens: 0,
  maxNewTokens: newTokens,
  clamped: false,
  logprobs: null,
  timing: { queuedMs: 0, prefillMs: 0, decodeMs: 0 },
});

test("measureRun turns the step log into throughput figures", () => {
  // Two requests, 2 slots: prompts of 10 and 30 tokens prefilled in 200 ms,
  // then 3 decode steps of 2 rows, 50 ms each; 4 new tokens each; 1 s in all.
  const decode = { slots: [{ request: 0, phase: "decode", tokens: 1 }, { request: 1, phase: "decode", tokens: 1 }], queued: 0, blocked: false, prefillMs: 0, decodeMs: 50 } as const;
  const run: BatchRun = {
    results: [result(0, 10, 4), result(1, 30, 4)],
    steps: [
      { slots: [{ request: 0, phase: "prefill", tokens: 10 }, { request: 1, phase: "prefill", tokens: 30 }], queued: 0, blocked: false, prefillMs: 200, decodeMs: 0 },
      decode,
      decode,
      decode,
    ],
    batchSize: 2,
    wallMs: 1000,
  };
  assert.deepEqual(measureRun(run), {
    requests: 2,
    batchSize: 2,
    inputTokens: 40,
    outputTokens: 8,
    decodeTokens: 6,
    wallMs: 1000,
    prefillMs: 200,
    decodeMs: 150,
    prefillTokensPerS: 200,
    decodeTokensPerS: 40,
    tokensPerS: 8,
    requestsPerS: 2,
  });
});

test("rates over no time are 0", () => {
  const metrics = measureRun({ results: [], steps: [], batchSize: 1, wallMs: 0 });
  assert.equal(metrics.tokensPerS, 0);
  assert.equal(metrics.prefillTokensPerS, 0);
  assert.equal(metrics.requestsPerS, 0);
});
