/**
 * Pinned token ids of the real Qwen2 vocabulary (shared by Qwen2, 2.5 and 3),
 * checked against the Rust `tokenizers` library.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { QWEN2_INSTRUCT_TOKENIZER_CONFIG, readQwenTokenizerJson } from "./fixtures.js";
import { createTokenizer } from "./tokenizer.js";

const ENDOFTEXT = 151643;
const IM_START = 151644;
const IM_END = 151645;

const PINNED: Array<[string, string, number[]]> = [
  [
    "English",
    "Hello, world! The quick brown fox jumps over the lazy dog.",
    [9707, 11, 1879, 0, 576, 3974, 13876, 38835, 34208, 916, 279, 15678, 5562, 13],
  ],
  [
    "Chinese",
    "目前全世界的经济都是为一个事情服务的",
    [100004, 105546, 9370, 99346, 100132, 17714, 46944, 99916, 47874, 9370],
  ],
  [
    "Python code with indentation",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    [
      750, 15801, 1445, 982, 262, 421, 308, 366, 220, 17, 510, 286, 470, 308, 198, 262, 470, 15801, 1445, 481, 220, 16,
      8, 488, 15801, 1445, 481, 220, 17, 340,
    ],
  ],
  [
    "emoji (split across tokens after a space; a skin tone; a flag)",
    "I love 🦀 and 👍🏽 and 🇯🇵!",
    [40, 2948, 11162, 99, 222, 323, 61804, 235, 145375, 323, 11162, 229, 107, 145516, 0],
  ],
  [
    "special tokens inside text",
    "<|im_start|>user\nhi<|im_end|>\n<|endoftext|>",
    [IM_START, 872, 198, 6023, IM_END, 198, ENDOFTEXT],
  ],
  ["whitespace runs", "  leading spaces\t\ttabs\n\n\nnewlines  ", [220, 6388, 12621, 197, 3244, 3435, 1406, 931, 7969, 256]],
];

describe("the Qwen2 vocabulary", () => {
  const qwen = createTokenizer({ tokenizerJson: readQwenTokenizerJson(), tokenizerConfig: QWEN2_INSTRUCT_TOKENIZER_CONFIG });

  for (const [what, text, ids] of PINNED) {
    it(`encodes ${what} to the pinned ids and back`, () => {
      assert.deepEqual(qwen.encode(text), ids);
      assert.equal(qwen.decode(ids, { skipSpecialTokens: false }), text);
    });
  }

  it("adds no special tokens (Qwen2 has no BOS)", () => {
    assert.deepEqual(qwen.encode("Hello", { addSpecialTokens: true }), qwen.encode("Hello", { addSpecialTokens: false }));
    assert.equal(qwen.bosTokenId, null);
  });

  it("knows the special tokens' ids", () => {
    assert.equal(qwen.tokenToId("<|endoftext|>"), ENDOFTEXT);
    assert.equal(qwen.tokenToId("<|im_start|>"), IM_START);
    assert.equal(qwen.tokenToId("<|im_end|>"), IM_END);
    assert.equal(qwen.idToToken(IM_END), "<|im_end|>");
    assert.deepEqual(qwen.eosTokenIds, [IM_END]);
    assert.equal(qwen.padTokenId, ENDOFTEXT);
  });

  it("counts the vocabulary: 151,643 BPE tokens and the added tokens after them", () => {
    assert.equal(qwen.tokenToId("<|endoftext|>"), 151643);
    assert.ok(qwen.vocabSize >= 151665, `vocabSize ${qwen.vocabSize}`);
    assert.equal(qwen.idToToken(qwen.vocabSize - 1) !== null, true);
    assert.equal(qwen.idToToken(qwen.vocabSize), null);
  });

  it("keeps <|im_end|> and <|endoftext|> from the user's text", () => {
    const ids = [...qwen.encode("目前全世界的经济"), IM_END, ENDOFTEXT];
    assert.equal(qwen.decode(ids), "目前全世界的经济");
    assert.equal(qwen.decode([IM_START, 872, 198, 6023, IM_END]), "user\nhi");
  });

  it("encodes a batch of Chinese and English prompts, left-padded and truncated from the left", () => {
    const batch = qwen.encodeBatch(["目前全世界的经济都是为一个事情服务的", "Hello"], { srcLength: 4 });
    assert.deepEqual(batch.inputIds, [
      [46944, 99916, 47874, 9370],
      [ENDOFTEXT, ENDOFTEXT, ENDOFTEXT, 9707],
    ]);
    assert.deepEqual(batch.attentionMask, [
      [1, 1, 1, 1],
      [0, 0, 0, 1],
    ]);
    assert.deepEqual(batch.truncations, [{ index: 0, originalLength: 10, removed: 6 }]);
  });
});
