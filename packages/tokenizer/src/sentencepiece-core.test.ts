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
