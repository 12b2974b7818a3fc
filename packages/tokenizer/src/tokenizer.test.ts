/**
 * createTokenizer on the tiny Llama-style vocabulary of test-fixtures.ts;
 * the expected ids were checked against the Rust `tokenizers` library.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LLAMA_STYLE, llamaStyleTokenizerConfig, llamaStyleTokenizerJson } from "./fixtures.js";
import { createTokenizer, type TokenizerFiles } from "./tokenizer.js";

const HELLO = 279; // "▁Hello"
const WORLD = 284; // "▁world"
const SPACE = 259; // "▁"
const COMMA = 268; // ","

function llama(overrides: Record<string, unknown> = {}, generationConfig?: unknown) {
  const files: TokenizerFiles = {
    tokenizerJson: llamaStyleTokenizerJson(),
    tokenizerConfig: { ...llamaStyleTokenizerConfig(), ...overrides },
  };
  if (generationConfig !== undefined) files.generationConfig = generationConfig;
  return createTokenizer(files);
}

describe("a Llama-style tokenizer", () => {
  const tokenizer = llama();

  it("encodes with the BOS the post-processor adds", () => {
    assert.deepEqual(tokenizer.encode("Hello world"), [LLAMA_STYLE.bos, HELLO, WORLD]);
    assert.deepEqual(tokenizer.encode("Hello, world!"), [LLAMA_STYLE.bos, HELLO, COMMA, WORLD, 269]);
    assert.deepEqual(tokenizer.encode("Hello world", { addSpecialTokens: false }), [HELLO, WORLD]);
    assert.deepEqual(tokenizer.encode(""), [LLAMA_STYLE.bos]);
  });

  it("falls back to byte tokens for characters outside the vocabulary", () => {
    // "世" is E4 B8 96, "🦀" is F0 9F A6 80: byte b is token 3 + b.
    assert.deepEqual(
      tokenizer.encode("I'm 世界 🦀"),
      [1, 259, 274, 270, 112, 259, 231, 187, 153, 234, 152, 143, 259, 243, 162, 169, 131],
    );
    assert.equal(tokenizer.decode(tokenizer.encode("I'm 世界 🦀")), "I'm 世界 🦀");
  });

  it("reads its special tokens", () => {
    assert.equal(tokenizer.bosTokenId, LLAMA_STYLE.bos);
    assert.deepEqual(tokenizer.eosTokenIds, [LLAMA_STYLE.eos]);
    assert.equal(tokenizer.padTokenId, LLAMA_STYLE.eos, "no pad_token: padding falls back to the EOS");
    assert.equal(tokenizer.vocabSize, 285);
    assert.equal(tokenizer.tokenToId("▁Hello"), HELLO);
    assert.equal(tokenizer.tokenToId("nope"), null);
    assert.equal(tokenizer.idToToken(LLAMA_STYLE.firstByte + 0xe4), "<0xE4>");
    assert.equal(tokenizer.idToToken(100000), null);
  });

  it("skips special tokens when decoding unless asked not to", () => {
    const ids = [LLAMA_STYLE.bos, HELLO, LLAMA_STYLE.eos, SPACE, WORLD];
    assert.equal(tokenizer.decode(ids), "Hello  world");
    assert.equal(tokenizer.decode(ids, { skipSpecialTokens: false }), "<s> Hello</s>  world");
  });

  it("decodes ids with no token to nothing, and rejects ids that are not ids", () => {
    assert.equal(tokenizer.decode([HELLO, 5000, WORLD]), "Hello world");
    assert.equal(tokenizer.decode([]), "");
    assert.throws(() => tokenizer.decode([HELLO, -1]), /^Error: decode: ids\[1\]: a token id must be a whole number >= 0; found -1$/);
    assert.throws(() => tokenizer.decode([0.5]), /found 0\.5/);
  });

  it("encodes a batch with left padding and keeps each BOS when truncating", () => {
    const batch = tokenizer.encodeBatch(["Hello world, world", "Hello"], { srcLength: 3 });
    assert.deepEqual(batch.inputIds, [
      [LLAMA_STYLE.bos, COMMA, WORLD],
      [LLAMA_STYLE.eos, LLAMA_STYLE.bos, HELLO],
    ]);
    assert.deepEqual(batch.attentionMask, [
      [1, 1, 1],
      [0, 1, 1],
    ]);
    assert.deepEqual(batch.truncations, [{ index: 0, originalLength: 5, removed: 2 }]);
    assert.deepEqual(tokenizer.encodeBatch(["Hello"], { addSpecialTokens: false }).inputIds, [[HELLO]]);
  });

  it("encodes a templated chat without a second BOS", () => {
    const messages = [{ role: "user", content: "Hello" }];
    const text = tokenizer.applyChatTemplate(messages);
    assert.ok(text.startsWith("<s>[INST]"));
    const ids = tokenizer.encodeChat(messages);
    assert.equal(ids[0], LLAMA_STYLE.bos);
    assert.equal(ids.filter((id) => id === LLAMA_STYLE.bos).length, 1);
    assert.deepEqual(ids, tokenizer.encode(text, { addSpecialTokens: false }));
    assert.deepEqual(tokenizer.encode(text).slice(0, 2), [LLAMA_STYLE.bos, LLAMA_STYLE.bos], "what encodeChat avoids");
  });
});

describe("tokenizer_config.json settings", () => {
  it("add_bos_token false removes the post-processor's BOS; add_eos_token true appends the EOS", () => {
    assert.deepEqual(llama({ add_bos_token: false }).encode("Hello"), [HELLO]);
    assert.deepEqual(llama({ add_eos_token: true }).encode("Hello"), [LLAMA_STYLE.bos, HELLO, LLAMA_STYLE.eos]);
  });

  it("clean_up_tokenization_spaces removes spaces before punctuation", () => {
    const ids = [HELLO, SPACE, COMMA, WORLD];
    assert.equal(llama().decode(ids), "Hello , world");
    assert.equal(llama({ clean_up_tokenization_spaces: true }).decode(ids), "Hello, world");
  });

  it("pad_token sets the padding id", () => {
    assert.equal(llama({ pad_token: "<unk>" }).padTokenId, LLAMA_STYLE.unk);
  });

  it("joins generation_config.json's EOS ids after the tokenizer's", () => {
    const tokenizer = llama({}, { eos_token_id: [5, 2], pad_token_id: 7 });
    assert.deepEqual(tokenizer.eosTokenIds, [LLAMA_STYLE.eos, 5]);
    assert.equal(tokenizer.padTokenId, 7);
    const noEos = llama({ eos_token: null, pad_token: null }, { eos_token_id: 9 });
    assert.deepEqual(noEos.eosTokenIds, [9]);
    assert.equal(noEos.padTokenId, 9);
    assert.equal(llama({ eos_token: null }).padTokenId, null);
  });
});

describe("invalid tokenizer files", () => {
  const json = llamaStyleTokenizerJson();
  const config = llamaStyleTokenizerConfig();
  const cases: Array<[string, TokenizerFiles, string]> = [
    ["a tokenizer.json that is not an object", { tokenizerJson: "x", tokenizerConfig: config }, 'tokenizer.json: expected a JSON object; found "x"'],
    [
      "a tokenizer.json without a model",
      { tokenizerJson: { ...json, model: undefined }, tokenizerConfig: config },
      'tokenizer.json: "model" must be an object with a string "type"; found undefined',
    ],
    [
      "a tokenizer.json without added_tokens",
      { tokenizerJson: { ...json, added_tokens: undefined }, tokenizerConfig: config },
      'tokenizer.json: "added_tokens" must be a list; found undefined',
    ],
    [
      "an added token without an id",
      { tokenizerJson: { ...json, added_tokens: [{ content: "<s>" }] }, tokenizerConfig: config },
      'tokenizer.json: added_tokens[0] must have a string "content" and a whole-number "id"; found {"content":"<s>"}',
    ],
    [
      "a tokenizer.json without a decoder field",
      { tokenizerJson: { ...json, decoder: undefined }, tokenizerConfig: config },
      'tokenizer.json: "decoder" is missing (it may be null, but must be present)',
    ],
    [
      "a model type the library does not know",
      { tokenizerJson: { ...json, model: { type: "Nope" } }, tokenizerConfig: config },
      "tokenizer.json: Unknown TokenizerModel type: Nope",
    ],
    [
      "an eos_token that is not in the vocabulary",
      { tokenizerJson: json, tokenizerConfig: { ...config, eos_token: "<|im_end|>" } },
      'tokenizer_config.json: eos_token "<|im_end|>" is not a token of tokenizer.json',
    ],
    [
      "an additional special token that is not in the vocabulary",
      { tokenizerJson: json, tokenizerConfig: { ...config, additional_special_tokens: ["<s>", "<x>"] } },
      'tokenizer_config.json: additional_special_tokens[1] "<x>" is not a token of tokenizer.json',
    ],
    [
      "a generation_config.json EOS outside the vocabulary",
      { tokenizerJson: json, tokenizerConfig: config, generationConfig: { eos_token_id: 151645 } },
      "generation_config.json: eos_token_id 151645 is outside the vocabulary (285 tokens)",
    ],
  ];
  for (const [what, files, message] of cases) {
    it(`rejects ${what}`, () => {
      assert.throws(() => createTokenizer(files), (error: Error) => {
        assert.equal(error.message, message);
        return true;
      });
    });
  }
});
