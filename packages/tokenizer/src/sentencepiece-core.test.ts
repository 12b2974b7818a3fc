/**
 * A sentencepiece tokenizer.model read the way transformers' Python
 * LlamaTokenizer reads it, against transformers 4.57 itself
 * (goldens/llama-slow.json): with `legacy` true and false, over three of the
 * golden models (BPE with a dummy prefix, Baichuan-like BPE without one, and
 * unigram with nmt_nfkc), a BOS added, an added token, and special tokens
 * written in the text.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { random } from "./fixtures.js";
import { readGolden, readGoldenBytes } from "./goldens.js";
import { createTokenizer } from "./tokenizer.js";

interface Golden {
  added_token_id: number;
  cases: { text: string; ids: number[]; decoded: string; sp_decoded?: string }[];
}
const goldens = readGolden<Record<string, Golden>>("llama-slow.json");

for (const [key, golden] of Object.entries(goldens)) {
  const [model, legacyFlag] = key.split(" ") as [string, string];
  const legacy = legacyFlag === "legacy=true";
  describe(`LlamaTokenizer over ${model} with legacy ${legacy}`, () => {
    const tokenizer = createTokenizer({
      tokenizerModel: readGoldenBytes(`sentencepiece/${model}.model`),
      tokenizerConfig: {
        tokenizer_class: "LlamaTokenizer",
        legacy,
        add_bos_token: true,
        add_eos_token: false,
        added_tokens_decoder: {
          [golden.added_token_id]: { content: "<|tool|>", special: false, lstrip: false, rstrip: false, normalized: false },
        },
      },
    });

    it("encodes every case to transformers' ids", () => {
      for (const c of golden.cases) assert.deepEqual(tokenizer.encode(c.text), c.ids, JSON.stringify(c.text));
    });

    it("decodes them to sentencepiece's text for the same ids less the special tokens", () => {
      // Not transformers' decode, which drops the first piece's space even where the text had
      // one (" leading space" comes back as "leading space") and puts spaces around added tokens.
      for (const c of golden.cases) {
        if (c.sp_decoded !== undefined) assert.equal(tokenizer.decode(c.ids), c.sp_decoded, JSON.stringify(c.text));
      }
    });

    it("agrees with transformers' decode on text that does not start with a space", () => {
      for (const c of golden.cases) {
        if (c.sp_decoded === undefined || /^[\s\u2581]/.test(c.text) || /<\/?s>|<unk>/.test(c.text)) continue;
        assert.equal(tokenizer.decode(c.ids), c.decoded, JSON.stringify(c.text));
      }
    });
  });
}


describe("streaming a sentencepiece model with byte fallback", () => {
  const llama = createTokenizer({
    tokenizerModel: readGoldenBytes("sentencepiece/llama-bpe.model"),
    tokenizerConfig: { tokenizer_class: "LlamaTokenizer", legacy: false },
  });

  for (const text of ["𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math 𝟘𝟙 and ﬁ ①", "emoji 🦑🛸 and 🧑‍🚀 crew", "  two leading spaces\tand a tab"]) {
    it(`never emits half a character, and joins to decode: ${text}`, () => {
      const ids = llama.encode(text);
      assert.ok(ids.some((id) => llama.idToToken(id)?.startsWith("<0x")), "the text needs byte pieces");
      const decoder = llama.streamDecoder();
      const pieces = ids.map((id) => decoder.push(id));
      pieces.push(decoder.flush());
      for (const piece of pieces) assert.ok(!piece.includes("\uFFFD"), JSON.stringify(pieces));
      assert.equal(pieces.join(""), llama.decode(ids));
      assert.equal(pieces.join(""), text);
    });
  }

  it("joins to decode for random ids: bytes that are not UTF-8, control and unknown pieces, ids past the vocabulary", () => {
    const next = random(11);
    for (let round = 0; round < 200; round++) {
      const ids = Array.from({ length: 1 + Math.floor(next() * 14) }, () =>
        next() < 0.5 ? 3 + Math.floor(next() * 256) : Math.floor(next() * (llama.vocabSize + 3)),
      );
      for (const skipSpecialTokens of [true, false]) {
        const decoder = llama.streamDecoder({ skipSpecialTokens });
        const joined = ids.map((id) => decoder.push(id)).join("") + decoder.flush();
        assert.equal(joined, llama.decode(ids, { skipSpecialTokens }), JSON.stringify(ids));
      }
    }
  });
});

describe("a Llama-2 directory without tokenizer.json", () => {
  const LLAMA2_TEMPLATE =
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + message['content'] + ' [/INST]' }}" +
    "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + ' ' + eos_token }}{% endif %}{% endfor %}";
  const llama2 = createTokenizer({
    tokenizerModel: readGoldenBytes("sentencepiece/llama-bpe.model"),
    tokenizerConfig: {
      tokenizer_class: "LlamaTokenizer",
      legacy: false,
      add_bos_token: true,
      add_eos_token: false,
      bos_token: { __type: "AddedToken", content: "<s>", lstrip: false, normalized: false, rstrip: false, single_word: false },
      eos_token: "</s>",
      unk_token: "<unk>",
      pad_token: null,
      chat_template: LLAMA2_TEMPLATE,
    },
    generationConfig: { bos_token_id: 1, eos_token_id: 2 },
  });

  it("reads its special tokens and template", () => {
    assert.equal(llama2.kind, "sentencepiece");
    assert.equal(llama2.chatFormat, "template");
    assert.equal(llama2.bosTokenId, 1);
    assert.deepEqual(llama2.eosTokenIds, [2]);
    assert.equal(llama2.padTokenId, 2);
  });

  it("encodes a templated chat with the template's <s> and </s> as single ids, and no second BOS", () => {
    const messages = [
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello" },
      { role: "user", content: "More" },
    ];
    const ids = llama2.encodeChat(messages);
    assert.deepEqual(ids.filter((id) => id === 1).length, 2);
    assert.deepEqual(ids.filter((id) => id === 2).length, 1);
    assert.deepEqual(ids, llama2.encode(llama2.applyChatTemplate(messages), { addSpecialTokens: false }));
    assert.equal(llama2.decode(ids), "[INST] Hi [/INST] Hello [INST] More [/INST]");
  });
});
