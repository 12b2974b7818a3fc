import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { everyConfiguration, fullPlan, positionsFor, quickPlan, selectConfigurations } from "./plan.js";

describe("plans", () => {
  it("ids are unique and the quick plan is a part of what there is", () => {
    const ids = everyConfiguration().map((c) => c.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const c of [...quickPlan().configurations, ...fullPlan().configurations]) assert.ok(ids.includes(c.id), c.id);
  });

  it("--only patterns are substrings with * for anything", () => {
    const ids = (patterns: string[]) => selectConfigurations(everyConfiguration(), patterns).map((c) => c.id);
    assert.deepEqual(ids(["0.5b/static-*-fused"]), ["0.5b/static-f32-fused", "0.5b/static-int8-fused", "0.5b/static-int4-fused"]);
    assert.deepEqual(ids(["1.5b/llama.cpp-q8"]), ["1.5b/llama.cpp-q8_0"]);
    assert.deepEqual(ids(["nothing"]), []);
  });

  it("positions cover the long prompt and every decode", () => {
    const w = { shortPrompt: 32, longPrompt: 512, decodeTokens: 600, batch: 8, batchDecodeTokens: 16 };
    assert.ok(positionsFor(w) >= 632);
    assert.ok(positionsFor({ ...w, decodeTokens: 8 }) >= 513);
  });
});
