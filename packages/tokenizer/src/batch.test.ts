import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { packBatch } from "./batch.js";

describe("packBatch", () => {
  it("pads on the left with the pad id and masks the padding", () => {
    const batch = packBatch([[5, 6, 7], [8]], { prefix: [], suffix: [], padTokenId: 0 });
    assert.deepEqual(batch.inputIds, [
      [5, 6, 7],
      [0, 0, 8],
    ]);
    assert.deepEqual(batch.attentionMask, [
      [1, 1, 1],
      [0, 0, 1],
    ]);
    assert.deepEqual(batch.truncations, []);
  });

  it("adds the framing special tokens to every row", () => {
    const batch = packBatch([[5, 6], [7]], { prefix: [1], suffix: [2], padTokenId: 9 });
    assert.deepEqual(batch.inputIds, [
      [1, 5, 6, 2],
      [9, 1, 7, 2],
    ]);
  });

  it("truncates to srcLength keeping the most recent tokens, and reports it", () => {
    const batch = packBatch([[10, 11, 12, 13, 14, 15], [20, 21]], { prefix: [], suffix: [], padTokenId: 0, srcLength: 4 });
    assert.deepEqual(batch.inputIds, [
      [12, 13, 14, 15],
      [0, 0, 20, 21],
    ]);
    assert.deepEqual(batch.truncations, [{ index: 0, originalLength: 6, removed: 2 }]);
  });

  it("keeps the BOS when it truncates, dropping the oldest text tokens", () => {
    const batch = packBatch([[10, 11, 12, 13]], { prefix: [1], suffix: [], padTokenId: 0, srcLength: 3 });
    assert.deepEqual(batch.inputIds, [[1, 12, 13]]);
    assert.deepEqual(batch.truncations, [{ index: 0, originalLength: 5, removed: 2 }]);
  });

  it("leaves a prompt of exactly srcLength alone", () => {
    const batch = packBatch([[10, 11, 12]], { prefix: [], suffix: [], padTokenId: 0, srcLength: 3 });
    assert.deepEqual(batch.inputIds, [[10, 11, 12]]);
    assert.deepEqual(batch.truncations, []);
  });

  it("returns an empty batch for no prompts", () => {
    assert.deepEqual(packBatch([], { prefix: [], suffix: [], padTokenId: 0 }), {
      inputIds: [],
      attentionMask: [],
      truncations: [],
    });
  });

  it("rejects an srcLength that leaves no room for text", () => {
    assert.throws(
      () => packBatch([[5]], { prefix: [1], suffix: [2], padTokenId: 0, srcLength: 2 }),
      /srcLength must be a whole number above 2 \(the special tokens added to every prompt\); found 2/,
    );
    assert.throws(() => packBatch([[5]], { prefix: [], suffix: [], padTokenId: 0, srcLength: 1.5 }), /found 1\.5/);
  });

  it("rejects an empty prompt", () => {
    assert.throws(
      () => packBatch([[5], []], { prefix: [], suffix: [], padTokenId: 0 }),
      /prompt 1 encodes to no tokens/,
    );
  });

  it("needs a pad id only when rows differ in length", () => {
    assert.deepEqual(packBatch([[5], [6]], { prefix: [], suffix: [], padTokenId: null }).inputIds, [[5], [6]]);
    assert.throws(
      () => packBatch([[5, 6], [7]], { prefix: [], suffix: [], padTokenId: null }),
      /prompt 1 needs 1 padding tokens but the tokenizer has no pad token/,
    );
  });
});
