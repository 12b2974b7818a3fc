/**
 * The sentencepiece reader against the real `sentencepiece` library: five
 * models trained by goldens/make_goldens.py (BPE and unigram, with and
 * without byte fallback, nmt_nfkc, a custom rule map, user-defined and
 * control symbols, every whitespace option), the ids and decoded text of
 * a varied corpus, and the decoded text of id sequences a model may
 * generate (control, unknown and byte pieces in any order).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readGolden, readGoldenBytes, SENTENCEPIECE_MODELS } from "../goldens.js";
import { parseSentencePieceModel } from "./model.js";
import { createSentencePieceProcessor } from "./processor.js";

interface Golden {
  size: number;
  cases: { text: string; ids: number[]; pieces: string[]; decoded: string }[];
  decodes: { ids: number[]; text: string }[];
}
const goldens = readGolden<Record<string, Golden>>("sentencepiece.json");

for (const name of SENTENCEPIECE_MODELS) {
  describe(`sentencepiece model ${name}`, () => {
    const file = `sentencepiece/${name}.model`;
    const sp = createSentencePieceProcessor(parseSentencePieceModel(readGoldenBytes(file), file));
    const golden = goldens[name]!;

    it("has the pieces sentencepiece counts", () => {
      assert.equal(sp.size, golden.size);
    });

    it("encodes the corpus to sentencepiece's ids", () => {
      for (const c of golden.cases) assert.deepEqual(sp.encode(c.text), c.ids, JSON.stringify(c.text));
    });

    it("decodes the corpus's ids to sentencepiece's text", () => {
      for (const c of golden.cases) assert.equal(sp.decode(c.ids), c.decoded, JSON.stringify(c.text));
    });

    it("decodes arbitrary id sequences as sentencepiece does", () => {
      for (const d of golden.decodes) assert.equal(sp.decode(d.ids), d.text, JSON.stringify(d.ids));
    });
  });
}
