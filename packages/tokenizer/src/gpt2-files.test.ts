/**
 * GPT-2's vocab.json + merges.txt without a tokenizer.json, against
 * transformers' GPT2Tokenizer and GPT2TokenizerFast (which agree on every
 * case; with add_prefix_space the fast one is the reference), on a
 * byte-level BPE trained by goldens/make_goldens.py with `tokenizers`.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { checkGpt2Vocab, parseGpt2Merges } from "./gpt2-files.js";
import { GOLDENS_DIR, readGolden } from "./goldens.js";
import { createTokenizer } from "./tokenizer.js";

interface Golden {
  endoftext: number;
  cases: { text: string; ids: number[]; ids_add_prefix_space: number[]; decoded: string; decoded_skip: string }[];
}
const golden = readGolden<Golden>("gpt2.json");
const vocabJson = JSON.parse(readFileSync(`${GOLDENS_DIR}gpt2/vocab.json`, "utf8")) as Record<string, number>;
const mergesTxt = readFileSync(`${GOLDENS_DIR}gpt2/merges.txt`, "utf8");

describe("GPT-2 from vocab.json and merges.txt alone", () => {
  const tokenizer = createTokenizer({ vocabJson, mergesTxt });

  it("takes GPT2Tokenizer's special tokens when there is no tokenizer_config.json", () => {
    assert.equal(tokenizer.kind, "gpt2-vocab");
    assert.deepEqual(tokenizer.eosTokenIds, [golden.endoftext]);
    assert.equal(tokenizer.bosTokenId, golden.endoftext);
    assert.equal(tokenizer.vocabSize, Object.keys(vocabJson).length);
    assert.equal(tokenizer.chatFormat, null);
  });

  it("encodes the corpus to transformers' ids, <|endoftext|> in text included", () => {
    for (const c of golden.cases) assert.deepEqual(tokenizer.encode(c.text), c.ids, JSON.stringify(c.text));
  });

  it("decodes them back, with and without special tokens", () => {
    for (const c of golden.cases) {
      assert.equal(tokenizer.decode(c.ids, { skipSpecialTokens: false }), c.decoded, JSON.stringify(c.text));
      assert.equal(tokenizer.decode(c.ids), c.decoded_skip, JSON.stringify(c.text));
    }
  });

  it("follows add_prefix_space from tokenizer_config.json", () => {
    const spaced = createTokenizer({ vocabJson, mergesTxt, tokenizerConfig: { tokenizer_class: "GPT2Tokenizer", add_prefix_space: true } });
    for (const c of golden.cases) assert.deepEqual(spaced.encode(c.text), c.ids_add_prefix_space, JSON.stringify(c.text));
  });

  it("streams text that joins to decode", () => {
    const ids = tokenizer.encode("目前全世界的经济 emoji 🦀🚀 and 👨‍👩‍👧‍👦");
    const stream = tokenizer.streamDecoder();
    let text = "";
    for (const id of ids) {
      const piece = stream.push(id);
      assert.ok(!piece.includes("\uFFFD"), "never half a character");
      text += piece;
    }
    assert.equal(text + stream.flush(), tokenizer.decode(ids));
  });
});

describe("GPT-2 file errors", () => {
  it("rejects another class's vocab.json + merges.txt", () => {
    assert.throws(
      () => createTokenizer({ vocabJson, mergesTxt, tokenizerConfig: { tokenizer_class: "Qwen2Tokenizer" } }),
      /^Error: tokenizer_config\.json: tokenizer_class "Qwen2Tokenizer" cannot be read from vocab\.json and merges\.txt without a tokenizer\.json \(supported: GPT2Tokenizer, GPT2TokenizerFast\)$/,
    );
  });

  it("checks vocab.json", () => {
    assert.throws(() => checkGpt2Vocab([1], "v.json"), /v\.json: expected a JSON object of tokens to ids; found \[1\]/);
    assert.throws(() => checkGpt2Vocab({ a: 1, b: 1 }, "v.json"), /v\.json: "a" and "b" both have id 1/);
    assert.throws(() => checkGpt2Vocab({ a: -1 }, "v.json"), /the id of "a" must be a whole number >= 0; found -1/);
  });

  it("checks merges.txt line by line", () => {
    const vocab = { a: 0, b: 1, ab: 2 };
    assert.deepEqual(parseGpt2Merges("#version: 0.2\na b\n", vocab, "m.txt"), ["a b"]);
    assert.throws(() => parseGpt2Merges("#version: 0.2\na  b\n", vocab, "m.txt"), /m\.txt: line 2: expected two tokens separated by one space/);
    assert.throws(() => parseGpt2Merges("a c\n", vocab, "m.txt"), /m\.txt: line 1: "c" is not in the vocabulary/);
    assert.throws(() => parseGpt2Merges("b a\n", vocab, "m.txt"), /m\.txt: line 1: "ba" is not in the vocabulary/);
  });
});
