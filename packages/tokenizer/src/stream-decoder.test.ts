import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  LLAMA_STYLE,
  llamaStyleTokenizerConfig,
  llamaStyleTokenizerJson,
  QWEN2_INSTRUCT_TOKENIZER_CONFIG,
  random,
  readQwenTokenizerJson,
} from "./fixtures.js";
import { createTokenizer, type DecodeOptions, type OarTokenizer } from "./tokenizer.js";

const SPACE_ID = 259; // "▁" in the Llama-style vocabulary

/** Pushes every id; returns each push's text and the flush's, last. */
function stream(tokenizer: OarTokenizer, ids: readonly number[], options?: DecodeOptions): string[] {
  const decoder = tokenizer.streamDecoder(options);
  const pieces = ids.map((id) => decoder.push(id));
  pieces.push(decoder.flush());
  return pieces;
}


describe("streaming the Qwen2 vocabulary (byte-level BPE)", () => {
  const qwen = createTokenizer({ tokenizerJson: readQwenTokenizerJson(), tokenizerConfig: QWEN2_INSTRUCT_TOKENIZER_CONFIG });

  const texts = [
    "目前全世界的经济都是为一个事情服务的",
    "I love 🦀 and 👍🏽 and 🇯🇵! 👨‍👩‍👧 家庭",
    "混合 text: 你好，世界！😀😃😄 — done.",
  ];
  for (const text of texts) {
    it(`never emits half a character: ${text}`, () => {
      const ids = qwen.encode(text);
      const pieces = stream(qwen, ids);
      for (const piece of pieces) assert.ok(!piece.includes("\uFFFD"), `a piece holds U+FFFD: ${JSON.stringify(pieces)}`);
      assert.equal(pieces.join(""), qwen.decode(ids));
      assert.equal(pieces.join(""), text);
    });
  }

  it("does split characters across tokens in these texts (so the tests above mean something)", () => {
    const ids = qwen.encode(" 🦀");
    assert.deepEqual(ids, [11162, 99, 222]);
    assert.equal(qwen.decode(ids.slice(0, 1)), " \uFFFD");
  });

  it("emits each word as soon as it is complete", () => {
    assert.deepEqual(stream(qwen, qwen.encode("Hello, world")), ["Hello", ",", " world", ""]);
  });

  it("leaves out <|im_end|> and the other specials, unless asked", () => {
    const ids = [...qwen.encode("好"), 151645, 151643];
    assert.equal(stream(qwen, ids).join(""), "好");
    assert.equal(stream(qwen, ids, { skipSpecialTokens: false }).join(""), "好<|im_end|><|endoftext|>");
  });

  it("flushes an incomplete character as U+FFFD, as decode does, and starts afresh", () => {
    const ids = qwen.encode(" 🦀").slice(0, 2);
    const decoder = qwen.streamDecoder();
    assert.equal(decoder.push(ids[0] as number), "");
    assert.equal(decoder.push(ids[1] as number), "");
    assert.equal(decoder.flush(), qwen.decode(ids));
    assert.equal(decoder.push(qwen.encode("A")[0] as number), "A");
  });

  it("joins to decode(ids) for random id sequences (invalid UTF-8, specials, ids past the vocabulary)", () => {
    const next = random(1234);
    for (let trial = 0; trial < 150; trial++) {
      const ids = Array.from({ length: 1 + Math.floor(next() * 24) }, () => {
        const r = next();
        // Mostly low byte-level ids (single bytes, partial characters), some specials and out-of-vocabulary ids.
        if (r < 0.6) return Math.floor(next() * 256);
        if (r < 0.8) return Math.floor(next() * qwen.vocabSize);
        if (r < 0.95) return 151643 + Math.floor(next() * 26);
        return 151936 - 1 - Math.floor(next() * 200);
      });
      for (const skipSpecialTokens of [true, false]) {
        assert.equal(stream(qwen, ids, { skipSpecialTokens }).join(""), qwen.decode(ids, { skipSpecialTokens }), `ids ${JSON.stringify(ids)}`);
      }
    }
  });
});

describe("streaming a SentencePiece-style vocabulary (Llama)", () => {
  const llama = createTokenizer({ tokenizerJson: llamaStyleTokenizerJson(), tokenizerConfig: llamaStyleTokenizerConfig() });

  it("keeps the space before each word but the first", () => {
    const ids = llama.encode("Hello world world");
    assert.deepEqual(stream(llama, ids), ["", "Hello", " world", " world", ""]);
  });

  it("keeps the space after a skipped special token, as decode does", () => {
    const ids = [LLAMA_STYLE.bos, ...llama.encode("Hello", { addSpecialTokens: false }), LLAMA_STYLE.eos, ...llama.encode("world", { addSpecialTokens: false })];
    assert.equal(stream(llama, ids).join(""), llama.decode(ids));
    assert.equal(stream(llama, ids).join(""), "Hello world");
  });

  it("assembles byte-fallback tokens into whole characters", () => {
    const text = "Hello 世界 🦀 world";
    const pieces = stream(llama, llama.encode(text));
    for (const piece of pieces) assert.ok(!piece.includes("\uFFFD"), JSON.stringify(pieces));
    assert.equal(pieces.join(""), text);
  });

  it("holds text back while clean_up_tokenization_spaces could still change it", () => {
    const cleaning = createTokenizer({
      tokenizerJson: llamaStyleTokenizerJson(),
      tokenizerConfig: { ...llamaStyleTokenizerConfig(), clean_up_tokenization_spaces: true },
    });
    const ids = cleaning.encode("Hello , world !");
    const pieces = stream(cleaning, ids);
    assert.equal(pieces.join(""), "Hello, world!");
    assert.equal(pieces.join(""), cleaning.decode(ids));
  });

  it("joins to decode(ids) for random id sequences, with and without cleanup", () => {
    const cleaning = createTokenizer({
      tokenizerJson: llamaStyleTokenizerJson(),
      tokenizerConfig: { ...llamaStyleTokenizerConfig(), clean_up_tokenization_spaces: true },
    });
    const next = random(99);
    const pieceIds = [SPACE_ID, SPACE_ID, ...Array.from({ length: 26 }, (_, i) => 259 + i)];
    for (let trial = 0; trial < 300; trial++) {
      const ids = Array.from({ length: 1 + Math.floor(next() * 20) }, () => {
        const r = next();
        if (r < 0.7) return pieceIds[Math.floor(next() * pieceIds.length)] as number;
        if (r < 0.9) return LLAMA_STYLE.firstByte + 0x80 + Math.floor(next() * 128);
        return Math.floor(next() * 3);
      });
      for (const tokenizer of [llama, cleaning]) {
        for (const skipSpecialTokens of [true, false]) {
          assert.equal(
            stream(tokenizer, ids, { skipSpecialTokens }).join(""),
            tokenizer.decode(ids, { skipSpecialTokens }),
            `ids ${JSON.stringify(ids)}`,
          );
        }
      }
    }
  });
});
