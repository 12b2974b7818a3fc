import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatBenchmark } from "./benchmark.js";

describe("formatBenchmark", () => {
  it("prints the figures and ends with one JSON line holding them", () => {
    const text = formatBenchmark({
      requests: 4,
      batchSize: 2,
      inputTokens: 100,
      outputTokens: 64,
      decodeTokens: 60,
      wallMs: 2000,
      prefillMs: 200,
      decodeMs: 1500,
      prefillTokensPerS: 500,
      decodeTokensPerS: 40,
      tokensPerS: 32,
      requestsPerS: 2,
    });
    const lines = text.trimEnd().split("\n");
    assert.match(text, /input length: +100 tokens \(25\.0 per prompt\)/);
    assert.match(text, /decode: +40\.00 tokens\/s/);
    assert.deepEqual(JSON.parse(lines.at(-1)!), {
      input_tokens: 100,
      output_tokens: 64,
      batch_size: 2,
      prefill_tokens_per_s: 500,
      decode_tokens_per_s: 40,
      tokens_per_s: 32,
      requests_per_s: 2,
      requests: 4,
      wall_s: 2,
    });
  });
});
